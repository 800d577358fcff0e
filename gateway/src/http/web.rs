//! The browser side the node serves: the chat page at `/chat` (after login) and the files it
//! loads, `/switchboard.js` (the browser client module), `/chat.js` and `/chat.css`. The
//! files live in `web/` and are built into the binary.

use std::sync::Arc;

use warp::http::{header, HeaderMap, Uri};
use warp::{Filter, Rejection, Reply};

use crate::runtime::Runtime;

const CHAT_HTML: &str = include_str!("../../../web/chat.html");
const CHAT_JS: &str = include_str!("../../../web/chat.js");
const CHAT_CSS: &str = include_str!("../../../web/chat.css");
const SWITCHBOARD_JS: &str = include_str!("../../../web/switchboard.js");

/// Where a visitor without a login cookie is sent.
pub const LOGIN_FOR_CHAT: &str = "/login?next=/chat";

fn file(body: &'static str, content_type: &'static str) -> warp::reply::Response {
    let mut response = warp::reply::Response::new(body.into());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    response
}

/// `GET /chat`, `/switchboard.js`, `/chat.js`, `/chat.css`.
pub fn routes(
    rt: Arc<Runtime>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let chat = warp::path!("chat")
        .and(warp::get())
        .and(warp::header::headers_cloned())
        .map(move |headers: HeaderMap| {
            let logged_in = crate::auth::token_from_cookies(&headers, &rt.node)
                .is_some_and(|token| rt.auth.verify(&token).is_ok());
            if logged_in {
                file(CHAT_HTML, "text/html; charset=utf-8")
            } else {
                warp::redirect::see_other(Uri::from_static(LOGIN_FOR_CHAT)).into_response()
            }
        });
    let asset = |name: &'static str, body: &'static str, content_type: &'static str| {
        warp::path(name)
            .and(warp::path::end())
            .and(warp::get())
            .map(move || file(body, content_type))
    };
    chat.or(asset(
        "switchboard.js",
        SWITCHBOARD_JS,
        "text/javascript; charset=utf-8",
    ))
    .unify()
    .or(asset("chat.js", CHAT_JS, "text/javascript; charset=utf-8"))
    .unify()
    .or(asset("chat.css", CHAT_CSS, "text/css; charset=utf-8"))
    .unify()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::auth::Auth;
    use crate::config::Config;

    fn runtime() -> Arc<Runtime> {
        Runtime::new(
            Config::new("/nonexistent-test-home"),
            Auth::new("local.os", &[7; 32]),
        )
    }

    #[tokio::test]
    async fn the_chat_page_needs_a_valid_login_cookie() {
        let rt = runtime();
        let filter = routes(rt.clone());
        let res = warp::test::request().path("/chat").reply(&filter).await;
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], LOGIN_FOR_CHAT);

        let forged = Auth::new("local.os", &[8; 32]).mint(Duration::from_secs(60));
        let res = warp::test::request()
            .path("/chat")
            .header("cookie", format!("kinode-auth_local.os={forged}"))
            .reply(&filter)
            .await;
        assert_eq!(res.status(), 303);

        let token = rt.auth.mint(Duration::from_secs(60));
        let res = warp::test::request()
            .path("/chat")
            .header("cookie", format!("other=1; kinode-auth_local.os={token}"))
            .reply(&filter)
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
        let body = String::from_utf8_lossy(res.body());
        assert!(body.contains("<title>Switchboard chat</title>"), "{body}");
    }

    #[tokio::test]
    async fn the_client_module_and_page_files_are_served() {
        let filter = routes(runtime());
        for (path, content_type, contains) in [
            (
                "/switchboard.js",
                "text/javascript; charset=utf-8",
                "export class Client",
            ),
            (
                "/chat.js",
                "text/javascript; charset=utf-8",
                "from '/switchboard.js'",
            ),
            ("/chat.css", "text/css; charset=utf-8", "#log"),
        ] {
            let res = warp::test::request().path(path).reply(&filter).await;
            assert_eq!(res.status(), 200, "{path}");
            assert_eq!(res.headers()["content-type"], content_type, "{path}");
            assert!(
                String::from_utf8_lossy(res.body()).contains(contains),
                "{path}"
            );
        }
    }
}
