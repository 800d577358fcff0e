//! WebSockets on bound paths: `ws://host/<process_id><path>`, the way current Kinode clients
//! (`@kinode/client-api`) connect. There is no register frame: a socket that passes the checks
//! is a channel at once, and the process receives `WebSocketOpen { path, channel_id }` with
//! the bound path.
//!
//! Checks, in order: the `Origin` (another origin is refused with 403 before any upgrade);
//! then, after the upgrade so a browser can read why, the bind (4404 `no_such_process`) and,
//! for authenticated binds, a token from `?token=` or — only when the request came with an
//! allowed `Origin` — from the login cookie (4401 `unauthorized`).

use std::collections::HashMap;
use std::sync::Arc;

use process_lib::{ProcessId, WsErrorCode};
use warp::{Filter, Rejection, Reply};

use super::admission::{refuse, REGISTERED};
use super::channel::{run_channel, OpenChannel};
use super::refusal::Refusal;
use super::upgrade::{self, socket_config, PendingUpgrade, WsStream};
use crate::http::bindings::{process_path, query_map, Kind};
use crate::http::origin::{self, Verdict};
use crate::http::problem::Problem;
use crate::runtime::Runtime;

/// `GET /<process_id><path>` with a WebSocket upgrade.
pub fn route(
    rt: Arc<Runtime>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    process_path()
        .and(upgrade::websocket())
        .and(query_map())
        .and(warp::any().map(move || rt.clone()))
        .map(
            |(process, path): (ProcessId, String),
             pending: PendingUpgrade,
             query: HashMap<String, String>,
             rt: Arc<Runtime>| upgrade(rt, pending, process, path, &query),
        )
}

fn upgrade(
    rt: Arc<Runtime>,
    pending: PendingUpgrade,
    process: ProcessId,
    path: String,
    query: &HashMap<String, String>,
) -> warp::reply::Response {
    let tls = pending.conn.is_some_and(|c| c.tls);
    let verdict = origin::check(&pending.headers, tls, &rt.config.allowed_origins);
    if let Verdict::Foreign(origin) = verdict {
        tracing::info!(%origin, %process, "cross-origin WebSocket refused");
        return Problem::ForeignOrigin(origin).into_response();
    }
    let credentials = match (
        query.get("token"),
        crate::auth::token_from_cookies(&pending.headers, &rt.node),
    ) {
        (Some(token), _) => Credentials::Token(token.clone()),
        (None, Some(cookie)) if verdict.cookie_usable() => Credentials::Token(cookie),
        (None, Some(_)) => Credentials::CookieWithoutOrigin,
        (None, None) => Credentials::None,
    };
    let client = pending.conn.map(|c| c.peer);
    let decision =
        admit(&rt, process, path, credentials).map(|open| OpenChannel { client, ..open });
    let config = socket_config(&rt.config);
    let tasks = rt.tasks.clone();
    let peer = pending.conn.map(|c| c.peer.ip());
    pending.accept(&tasks, config, move |ws| serve(rt, ws, peer, decision))
}

/// What the upgrade request offers to authenticate with.
enum Credentials {
    /// A token from `?token=`, or the login cookie of a page with an allowed `Origin`.
    Token(String),
    /// The login cookie, from a client that sent no `Origin` (so not a browser page).
    CookieWithoutOrigin,
    /// Nothing.
    None,
}

/// Decides whether the socket becomes a channel.
fn admit(
    rt: &Runtime,
    process: ProcessId,
    path: String,
    credentials: Credentials,
) -> Result<OpenChannel, Refusal> {
    let bind = rt
        .bindings
        .lookup(Kind::WebSocket, &process, &path)
        .ok_or_else(|| {
            Refusal::new(
                WsErrorCode::NoSuchProcess,
                format!("no process accepts WebSockets at /{process}{path}"),
            )
        })?;
    if bind.authenticated {
        let token = match credentials {
            Credentials::Token(token) => token,
            Credentials::CookieWithoutOrigin => {
                return Err(Refusal::new(
                    WsErrorCode::Unauthorized,
                    "a client that sends no Origin header must give a token (?token=…); the login cookie counts only for browser pages",
                ))
            }
            Credentials::None => String::new(),
        };
        rt.auth
            .verify(&token)
            .map_err(|e| Refusal::new(WsErrorCode::Unauthorized, e.to_string()))?;
    }
    let (process, mailbox) = rt.processes.channel_owner(&process, false).ok_or_else(|| {
        Refusal::new(
            WsErrorCode::NoSuchProcess,
            format!("process {process} is not running"),
        )
    })?;
    Ok(OpenChannel {
        process,
        path,
        mailbox,
        announce: false,
        admitted: None,
        client: None,
    })
}

async fn serve(
    rt: Arc<Runtime>,
    ws: WsStream,
    peer: Option<std::net::IpAddr>,
    decision: Result<OpenChannel, Refusal>,
) {
    let admitted = match super::limits::admit(&rt, peer) {
        Ok(admitted) => admitted,
        Err(refusal) => {
            rt.telemetry.registers.add(refusal.code.as_str());
            return refuse(&rt, ws, refusal).await;
        }
    };
    match decision {
        Ok(open) => {
            let open = OpenChannel {
                admitted: Some(admitted),
                ..open
            };
            rt.telemetry.registers.add(REGISTERED);
            run_channel(rt, upgrade::renew(ws), open).await;
        }
        Err(refusal) => {
            rt.telemetry.registers.add(refusal.code.as_str());
            refuse(&rt, ws, refusal).await;
        }
    }
}
