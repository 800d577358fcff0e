//! `our.js`, the script Kinode web apps load to learn where they run:
//! `window.our = {}; window.our.node = '<node>'; window.our.process = '<process id>';`.
//!
//! - `GET /<process_id>/our.js` (and `our.js` anywhere under `/<process_id>/`, which is what a
//!   page under a bound path loads with `<script src="our.js">`) names that process, when it
//!   runs here and has not bound that path itself.
//! - `GET /our.js` (what Kinode apps load with `<script src="/our.js">`) names the node, and
//!   the process too when the page asking (its `Referer`) is under `/<process_id>/`.
//!
//! Node names and process ids hold only `[a-z0-9-.:]`, so they sit in quotes unescaped. The
//! script is public, as on Kinode: it says nothing a visitor of the page does not know.

use std::sync::Arc;

use process_lib::ProcessId;
use warp::filters::path::FullPath;
use warp::http::{header, HeaderValue};
use warp::{Filter, Rejection};

use super::bindings::{self, Kind};
use crate::runtime::Runtime;

/// The file name, as a page asks for it.
const FILE: &str = "our.js";

/// `GET /our.js` and `GET /<process_id>/…/our.js`.
pub fn route(
    rt: Arc<Runtime>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::get()
        .and(warp::path::full())
        .and(warp::header::optional::<String>(header::REFERER.as_str()))
        .and_then(move |full: FullPath, referer: Option<String>| {
            let rt = rt.clone();
            async move {
                let process = if full.as_str() == "/our.js" {
                    Ok(referer.as_deref().and_then(|page| page_process(&rt, page)))
                } else {
                    under_process(&rt, full.as_str()).map(Some)
                };
                process
                    .map(|process| script(&rt.node, process.as_ref()))
                    .map_err(|()| warp::reject::not_found())
            }
        })
}

/// The process whose `our.js` a path under `/<process_id>/` asks for, or `Err` when the path
/// is not such a request (or the process binds it itself, or does not run here).
fn under_process(rt: &Runtime, path: &str) -> Result<ProcessId, ()> {
    let (process, rest) = bindings::split(path).ok_or(())?;
    let asks = rest.rsplit('/').next() == Some(FILE);
    let its_own = rt.bindings.lookup(Kind::Http, &process, &rest).is_some();
    if asks && !its_own && rt.processes.mailbox(&process).is_some() {
        Ok(process)
    } else {
        Err(())
    }
}

/// The running process a page at URL `page` is under, if any.
fn page_process(rt: &Runtime, page: &str) -> Option<ProcessId> {
    let after_scheme = page.split_once("://").map_or(page, |(_, rest)| rest);
    let path = &after_scheme[after_scheme.find('/')?..];
    let (process, _) = bindings::split(path)?;
    rt.processes.mailbox(&process).map(|_| process)
}

fn script(node: &str, process: Option<&ProcessId>) -> warp::reply::Response {
    let mut body = format!("window.our = {{}}; window.our.node = '{node}';");
    if let Some(process) = process {
        body.push_str(&format!(" window.our.process = '{process}';"));
    }
    let mut response = warp::reply::Response::new(body.into());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/javascript"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime_with(process: &str) -> (Arc<Runtime>, tempfile::TempDir) {
        let home = tempfile::tempdir().expect("temp home");
        let config = crate::config::Config::new(home.path());
        let rt = Runtime::new(config, crate::auth::Auth::new("local.os", &[1; 32]));
        let (mailbox, _inbox) = tokio::sync::mpsc::channel(1);
        let id: ProcessId = process.parse().expect("process id");
        rt.processes
            .install(id, crate::kernel::mailbox::Mailbox::new(mailbox), true);
        (rt, home)
    }

    async fn get(rt: &Arc<Runtime>, path: &str, referer: Option<&str>) -> (u16, String) {
        let mut request = warp::test::request().method("GET").path(path);
        if let Some(referer) = referer {
            request = request.header("referer", referer);
        }
        let filter = route(rt.clone()).recover(|_| async {
            Ok::<_, std::convert::Infallible>(warp::http::StatusCode::NOT_FOUND)
        });
        let response = request.reply(&filter).await;
        let body = String::from_utf8_lossy(response.body()).into_owned();
        (response.status().as_u16(), body)
    }

    #[tokio::test]
    async fn under_a_process_it_names_the_node_and_the_process() {
        let (rt, _home) = runtime_with("webapp:test:sys");
        let named = "window.our = {}; window.our.node = 'local.os'; \
                     window.our.process = 'webapp:test:sys';";
        assert_eq!(
            get(&rt, "/webapp:test:sys/our.js", None).await,
            (200, named.to_owned())
        );
        assert_eq!(
            get(&rt, "/webapp:test:sys/ui/our.js", None).await,
            (200, named.to_owned())
        );
        let page = "http://127.0.0.1:8080/webapp:test:sys/index.html";
        assert_eq!(
            get(&rt, "/our.js", Some(page)).await,
            (200, named.to_owned())
        );
    }

    #[tokio::test]
    async fn at_the_root_it_names_the_node() {
        let (rt, _home) = runtime_with("webapp:test:sys");
        let node_only = "window.our = {}; window.our.node = 'local.os';".to_owned();
        assert_eq!(get(&rt, "/our.js", None).await, (200, node_only.clone()));
        let elsewhere = "http://127.0.0.1:8080/chat";
        assert_eq!(get(&rt, "/our.js", Some(elsewhere)).await, (200, node_only));
    }

    #[tokio::test]
    async fn a_process_not_running_or_binding_the_path_itself_is_left_alone() {
        let (rt, _home) = runtime_with("webapp:test:sys");
        assert_eq!(get(&rt, "/nobody:test:sys/our.js", None).await.0, 404);
        assert_eq!(get(&rt, "/webapp:test:sys/other.js", None).await.0, 404);
        let webapp: ProcessId = "webapp:test:sys".parse().expect("process id");
        rt.bindings
            .bind(Kind::Http, &webapp, "/our.js", false)
            .expect("bind");
        assert_eq!(get(&rt, "/webapp:test:sys/our.js", None).await.0, 404);
    }
}
