//! `broadcast:broadcast:sys`: every client registered to it is a subscriber, and a frame
//! from any of them is pushed to all of them, the sender included. The blob is cloned per
//! subscriber, which shares the payload's bytes, and one call pushes it to them all.

use std::collections::BTreeSet;

use process_lib::{
    await_message, get_blob, send_ws_push_many, Address, HttpServerError, HttpServerRequest,
};

/// The process id this process is installed under.
pub const ID: &str = "broadcast:broadcast:sys";

/// Runs the broadcast process until the runtime stops it.
pub async fn run(our: Address) -> anyhow::Result<()> {
    let mut subscribers = BTreeSet::new();
    loop {
        let Ok(message) = await_message().await else {
            continue;
        };
        let Ok(request) = serde_json::from_slice::<HttpServerRequest>(message.body()) else {
            continue;
        };
        match request {
            HttpServerRequest::WebSocketOpen { channel_id, .. } => {
                subscribers.insert(channel_id);
            }
            HttpServerRequest::WebSocketClose(channel_id) => {
                subscribers.remove(&channel_id);
            }
            HttpServerRequest::WebSocketPush { message_type, .. } => {
                let blob = get_blob().unwrap_or_default();
                let ids: Vec<u32> = subscribers.iter().copied().collect();
                for (channel_id, error) in send_ws_push_many(&our.node, &ids, message_type, blob) {
                    match error {
                        // A channel that is gone, or was just closed for not reading, is
                        // no longer a subscriber.
                        HttpServerError::WsChannelNotFound | HttpServerError::SlowConsumer => {
                            subscribers.remove(&channel_id);
                        }
                        error => tracing::debug!(channel_id, %error, "broadcast push refused"),
                    }
                }
            }
            _ => {}
        }
    }
}
