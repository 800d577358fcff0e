//! `fanout:bench:ext`, the cluster scenario's publishing process, run outside a node over
//! its process socket (`switchboard-bench outside-fanout`). A text frame
//! `{"audience":[ID,…]}` names the channels to publish to, on any instance of the node;
//! every other frame from that publisher is pushed to all of them with one `send_ws_push_many`, which reaches
//! the channels of this instance directly and those of each other instance in one NATS
//! message. Subscribers register to it too (a push goes only to channels bound to the
//! pushing process), so it runs beside every instance; only the publisher's one publishes.

use std::collections::HashMap;

use process_lib::{
    await_message, get_blob, http_server_id, send_ws_push_many, Address, HttpServerRequest,
    WsMessageType,
};

/// The process id it runs as.
pub const ID: &str = "fanout:bench:ext";

/// The frame that names the audience.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Audience {
    /// Channel ids, on any instance of the node.
    pub audience: Vec<u32>,
}

/// Runs until the connection to the node ends.
pub async fn run(our: Address) -> anyhow::Result<()> {
    // Each publishing channel's audience.
    let mut audiences: HashMap<u32, Vec<u32>> = HashMap::new();
    loop {
        let Ok(message) = await_message().await else {
            continue;
        };
        if message.source().process != http_server_id() {
            continue;
        }
        let Ok(HttpServerRequest::WebSocketPush {
            channel_id,
            message_type,
        }) = HttpServerRequest::from_json(message.body())
        else {
            continue;
        };
        let blob = get_blob().unwrap_or_default();
        if message_type == WsMessageType::Text {
            if let Ok(named) = serde_json::from_slice::<Audience>(&blob.bytes) {
                audiences.insert(channel_id, named.audience);
                continue;
            }
        }
        // A refused push is a delivery the subscriber never sees: the scenario counts it
        // as missing.
        let audience = audiences.get(&channel_id).map_or(&[][..], Vec::as_slice);
        let _refused = send_ws_push_many(&our.node, audience, message_type, blob);
    }
}
