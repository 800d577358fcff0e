//! Admission on `/`: the connection limits ([`super::limits`]), then the register frame; a socket that passes
//! becomes a channel ([`super::channel`]), one that does not is told why and closed.

use std::future::Future;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};

use super::channel::{run_channel, OpenChannel};
use super::refusal::Refusal;
use super::register::{await_register, NotRegistered};
use super::upgrade::WsStream;
use crate::http::ConnInfo;
use crate::runtime::Runtime;

/// Serves a socket that connected to `/`: admission, register frame, then the channel.
/// `cookie_token` is the upgrade request's login cookie, used when the frame's token is empty.
pub fn serve_register_flow(
    rt: Arc<Runtime>,
    ws: WsStream,
    conn: Option<ConnInfo>,
    cookie_token: Option<String>,
) -> impl Future<Output = ()> {
    // Boxed: the future lives as long as the connection, and an argument stays in it for
    // good, so it holds a pointer rather than the whole socket it has already handed on.
    register_flow(rt, Box::new(ws), conn, cookie_token)
}

async fn register_flow(
    rt: Arc<Runtime>,
    mut ws: Box<WsStream>,
    conn: Option<ConnInfo>,
    cookie_token: Option<String>,
) {
    let admitted = match super::limits::admit(&rt, conn.map(|c| c.peer.ip())) {
        Ok(admitted) => admitted,
        Err(refusal) => {
            rt.telemetry.registers.add(refusal.code.as_str());
            return Box::pin(refuse(&rt, unbox(ws), refusal)).await;
        }
    };
    let tls = conn.is_some_and(|c| c.tls);
    // The register frame is larger than the read buffer a channel keeps: it is read whole
    // frames at a time, so the socket can be renewed with a small buffer afterwards.
    ws.get_mut().stop_at_frame_ends();
    // The register phase is boxed so this task is sized for the flow alone; the channel
    // runs as a task of its own, sized for the channel alone, and this one ends.
    match Box::pin(await_register(&rt, &mut ws, tls, cookie_token.as_deref())).await {
        Ok(registration) => {
            rt.telemetry.registers.add(REGISTERED);
            let open = OpenChannel {
                process: registration.process,
                path: "/".to_owned(),
                mailbox: registration.mailbox,
                announce: true,
                admitted: Some(admitted),
                client: conn.map(|c| c.peer),
            };
            let ws = super::upgrade::renew(unbox(ws));
            // Spawned as it is: a future wrapped in another async block would be stored
            // twice in the task.
            rt.tasks.spawn(run_channel(rt.clone(), ws, open));
        }
        Err(NotRegistered::Refused(refusal)) => {
            rt.telemetry.registers.add(refusal.code.as_str());
            Box::pin(refuse(&rt, unbox(ws), refusal)).await;
        }
        Err(NotRegistered::Gone) => rt.telemetry.registers.add(GONE),
    }
}

/// The outcome a channel admission is counted under when it opened a channel.
pub const REGISTERED: &str = "ok";

/// The outcome of a register flow whose client left before registering.
const GONE: &str = "gone";

/// Takes the socket out of its box and frees the box now (`*ws` would keep the allocation
/// until the binding's scope ends, which is the connection's end).
fn unbox(ws: Box<WsStream>) -> WsStream {
    *ws
}

/// Tells the client why (unless it broke the protocol, which gets the close frame alone),
/// closes with the matching code, and waits (bounded) for its close.
pub async fn refuse(rt: &Runtime, mut ws: WsStream, refusal: Refusal) {
    tracing::debug!(code = refusal.code.as_str(), message = %refusal.message, "refusing socket");
    rt.telemetry
        .closes
        .add(&refusal.code.close_code().to_string());
    let close = async {
        if !refusal.code.is_protocol_failure() {
            ws.feed(refusal.error_frame()).await?;
        }
        ws.send(refusal.close_frame()).await?;
        while let Some(Ok(_)) = ws.next().await {}
        Ok::<_, tokio_tungstenite::tungstenite::Error>(())
    };
    let _ = tokio::time::timeout(rt.config.close_timeout, close).await;
    // A client that broke the protocol mid-message may still be sending it.
    if refusal.code.is_protocol_failure() {
        tokio::spawn(super::linger::linger(
            ws.into_inner(),
            rt.config.close_timeout,
        ));
    }
}
