//! Binding paths: a process asks http-server to route `/<process_id><path>` to it, as
//! WebSocket channels (`bind_ws_path`) or as HTTP requests (`bind_http_path`).
//!
//! Each call sends the matching [`HttpServerAction`] to this node's http-server and waits for
//! its `{"Ok":null}` (or `{"Err":…}`) answer, so when it returns `Ok` the path is served.

use crate::api::{Request, RequestError};
use crate::host::context;
use crate::http::{HttpServerAction, HttpServerError};
use crate::Address;

/// How long a bind waits for http-server's answer, in seconds.
const ANSWER_TIMEOUT_SECS: u64 = 5;

/// Why a bind or unbind did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The request did not reach http-server, or its answer did not come in time.
    #[error("http-server did not answer: {0}")]
    Send(#[from] RequestError),
    /// http-server refused (for example a path that does not start with `/`).
    #[error("http-server refused: {0}")]
    Refused(HttpServerError),
    /// The answer was not `{"Ok":null}` or `{"Err":…}`.
    #[error("http-server's answer is not understood")]
    BadAnswer,
}

async fn ask(action: HttpServerAction) -> Result<(), BindError> {
    let ctx = context();
    let target = Address {
        node: ctx.our.node.clone(),
        process: crate::http_server_id(),
    };
    let body = serde_json::to_vec(&action).map_err(|_| BindError::BadAnswer)?;
    let answer = Request::to(target)
        .body(body)
        .send_and_await_response(ANSWER_TIMEOUT_SECS)
        .await?;
    let result: Result<(), HttpServerError> =
        serde_json::from_slice(answer.body()).map_err(|_| BindError::BadAnswer)?;
    result.map_err(BindError::Refused)
}

/// Accepts WebSocket clients on `/<our process id><path>`; with `authenticated`, only clients
/// with the node's login cookie or a `?token=`. Clients send no register frame: each socket
/// opens a channel at once and the process receives `WebSocketOpen { path, channel_id }`.
pub async fn bind_ws_path(path: &str, authenticated: bool) -> Result<(), BindError> {
    ask(HttpServerAction::WebSocketBind {
        path: path.to_owned(),
        authenticated,
    })
    .await
}

/// Stops accepting new WebSocket clients on a path; open channels stay open.
pub async fn unbind_ws_path(path: &str) -> Result<(), BindError> {
    ask(HttpServerAction::WebSocketUnbind {
        path: path.to_owned(),
    })
    .await
}

/// Serves HTTP on `/<our process id><path>`: each request arrives as
/// `HttpServerRequest::Http` with the body as the blob, and the process answers with a
/// `Response` whose body is an `HttpResponse` and whose blob is the response body.
pub async fn bind_http_path(path: &str, authenticated: bool) -> Result<(), BindError> {
    ask(HttpServerAction::Bind {
        path: path.to_owned(),
        authenticated,
    })
    .await
}

/// Stops serving HTTP on a path.
pub async fn unbind_http_path(path: &str) -> Result<(), BindError> {
    ask(HttpServerAction::Unbind {
        path: path.to_owned(),
    })
    .await
}
