//! The node's warp filters: `GET /` with an upgrade opens the register flow; a plain
//! `GET /` says what the node is; `/process` with an upgrade is the process socket
//! ([`crate::process_socket`]); `/login` and `/logout` log a browser in and out; `/chat`
//! and its files come from [`crate::http::web`]; `/our.js` from [`crate::http::our_js`];
//! `/<process_id><path>` reaches what processes bound; anything else is a 404 with a sentence.

use std::convert::Infallible;
use std::sync::Arc;

use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use crate::http;
use crate::runtime::Runtime;
use crate::ws::admission;
use crate::ws::upgrade::{self, socket_config, PendingUpgrade};

fn with_runtime(
    rt: Arc<Runtime>,
) -> impl Filter<Extract = (Arc<Runtime>,), Error = Infallible> + Clone {
    warp::any().map(move || rt.clone())
}

/// Every route the node serves.
pub fn routes(
    rt: Arc<Runtime>,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let register = warp::path::end()
        .and(upgrade::websocket())
        .and(with_runtime(rt.clone()))
        .map(|pending: PendingUpgrade, rt: Arc<Runtime>| {
            let conn = pending.conn;
            let tls = conn.is_some_and(|c| c.tls);
            let allowed = &rt.config.allowed_origins;
            let cookie_token =
                match http::origin::usable_cookie(&pending.headers, tls, allowed, &rt.node) {
                    Ok(token) => token,
                    Err(problem) => return problem.into_response(),
                };
            let config = socket_config(&rt.config);
            let tasks = rt.tasks.clone();
            pending.accept(&tasks, config, move |ws| {
                admission::serve_register_flow(rt, ws, conn, cookie_token)
            })
        });
    let process_socket = warp::path("process")
        .and(warp::path::end())
        .and(upgrade::websocket())
        .and(with_runtime(rt.clone()))
        .map(|pending: PendingUpgrade, rt: Arc<Runtime>| {
            let tls = pending.conn.is_some_and(|c| c.tls);
            // Only to refuse a foreign page: a program authenticates with its hello alone.
            let allowed = &rt.config.allowed_origins;
            if let Err(problem) =
                http::origin::usable_cookie(&pending.headers, tls, allowed, &rt.node)
            {
                return problem.into_response();
            }
            let config = crate::process_socket::socket_config(&rt.config);
            let tasks = rt.tasks.clone();
            pending.accept(&tasks, config, move |ws| {
                crate::process_socket::serve(rt, ws)
            })
        });
    let web = http::web::routes(rt.clone());
    let index = warp::path::end()
        .and(warp::get())
        .and(with_runtime(rt.clone()))
        .map(|rt: Arc<Runtime>| {
            format!(
                "Switchboard node {}: open a WebSocket here and send a register frame.\n",
                rt.node
            )
        });
    let login = http::login::routes(rt.clone());
    let bound = crate::ws::bound::route(rt.clone())
        .or(http::our_js::route(rt.clone()))
        .or(http::bound_http::route(rt));
    register
        .or(process_socket)
        .or(index)
        .or(web)
        .or(login)
        .or(bound)
        .recover(recover)
}

async fn recover(rejection: Rejection) -> Result<impl Reply, Infallible> {
    let (status, message) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "nothing is served at this path")
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        )
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "this path does not take that method",
        )
    } else {
        (StatusCode::BAD_REQUEST, "the request is malformed")
    };
    let body = warp::reply::json(&serde_json::json!({ "error": message }));
    Ok(warp::reply::with_status(body, status))
}
