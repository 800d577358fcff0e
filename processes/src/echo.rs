//! `echo:echo:sys`: every frame a client sends comes back on the same channel, with the
//! same message type.

use process_lib::{await_message, get_blob, send_ws_push, Address, HttpServerRequest};

/// The process id this process is installed under.
pub const ID: &str = "echo:echo:sys";

/// Runs the echo process until the runtime stops it.
pub async fn run(our: Address) -> anyhow::Result<()> {
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
