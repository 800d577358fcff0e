//! The node's warp filters: `GET /` with an upgrade opens the register flow; a plain
//! `GET /` says what the node is; `/chat` and its files come from [`super::web`]; anything
//! else is a 404 with a sentence.

use std::convert::Infallible;
use std::sync::Arc;

use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::socket;
use super::upgrade::{self, socket_config, PendingUpgrade};
use crate::runtime::Runtime;

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
            let cookie_token = crate::auth::token_from_cookies(&pending.headers, &rt.node);
            let config = socket_config(&rt.config);
            let tasks = rt.tasks.clone();
            pending.accept(&tasks, config, move |ws| {
                socket::serve_register_flow(rt, ws, conn, cookie_token)
            })
        });
    let web = super::web::routes(rt.clone());
    let index = warp::path::end()
        .and(warp::get())
        .and(with_runtime(rt))
        .map(|rt: Arc<Runtime>| {
            format!(
                "Switchboard node {}: open a WebSocket here and send a register frame.\n",
                rt.node
            )
        });
    register.or(index).or(web).recover(recover)
}

async fn recover(rejection: Rejection) -> Result<impl Reply, Infallible> {
    let (status, message) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "nothing is served at this path")
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
