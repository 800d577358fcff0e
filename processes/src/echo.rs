//! `echo:echo:sys`: every frame a client sends comes back on the same channel, with the
//! same message type. Clients reach it by the register flow, or on its bound path
//! `/echo:echo:sys/ws` (authenticated: the login cookie or `?token=`), which is what a plain
//! WebSocket tool such as the Autobahn|Testsuite can connect to.

use process_lib::{
    await_message, bind_ws_path, get_blob, send_ws_push, Address, HttpServerRequest,
};

/// The process id this process is installed under.
pub const ID: &str = "echo:echo:sys";

/// The WebSocket path it binds, under `/echo:echo:sys`.
pub const WS_PATH: &str = "/ws";

/// Runs the echo process until the runtime stops it.
pub async fn run(our: Address) -> anyhow::Result<()> {
    if let Err(error) = bind_ws_path(WS_PATH, true).await {
        // The register flow still works; only the bound path is missing.
        tracing::warn!(%error, "echo could not bind {WS_PATH}");
    }
    loop {
        let Ok(message) = await_message().await else {
            continue;
        };
        let Ok(HttpServerRequest::WebSocketPush {
            channel_id,
            message_type,
        }) = HttpServerRequest::from_json(message.body())
        else {
            continue;
        };
        let blob = get_blob().unwrap_or_default();
        if let Err(error) = send_ws_push(&our.node, channel_id, message_type, blob) {
            tracing::debug!(channel_id, %error, "echo push refused");
        }
    }
}
