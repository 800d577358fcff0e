//! `broadcast:broadcast:sys`: every client registered to it is a subscriber, and a frame
//! from any of them is pushed to all of them, the sender included. The blob is cloned per
//! subscriber, which shares the payload's bytes, and one call pushes it to them all.
//!
//! On linked nodes the broadcasts are one audience ([`federation`]): a frame published here
//! is also pushed, node to node, to the subscribers on every linked peer that trusts this
//! node's pushes.

pub mod federation;

use process_lib::{
    await_message, get_blob, http_server_id, send_ws_push_many, Address, HttpServerError,
    HttpServerRequest, Message, NodeName,
};

use federation::{ChannelSet, Federation, PeerNote, PEERS_EVERY};

/// The process id this process is installed under.
pub const ID: &str = "broadcast:broadcast:sys";

/// Runs the broadcast process until the runtime stops it.
pub async fn run(our: Address) -> anyhow::Result<()> {
    let mut broadcast = Broadcast {
        node: our.node.clone(),
        local: ChannelSet::default(),
        federation: Federation::new(our),
    };
    let mut look = tokio::time::interval(PEERS_EVERY);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = await_message() => {
                if let Ok(message) = message {
                    broadcast.message(message);
                }
            }
            _ = look.tick() => broadcast.federation.refresh(&broadcast.local).await,
        }
    }
}

struct Broadcast {
    node: NodeName,
    local: ChannelSet,
    federation: Federation,
}

impl Broadcast {
    fn message(&mut self, message: Message) {
        let source = message.source();
        if source.process == http_server_id() && source.node == self.node {
            self.client_event(message.body());
        } else if &source.process == self.federation.process() && source.node != self.node {
            if let Message::Request { source, body, .. } = message {
                self.federation.heard(&source.node, &body, &self.local);
            }
        }
    }

    fn client_event(&mut self, body: &[u8]) {
        let Ok(request) = HttpServerRequest::from_json(body) else {
            return;
        };
        match request {
            HttpServerRequest::WebSocketOpen { channel_id, .. } => {
                if self.local.insert(channel_id) {
                    self.federation.announce(&PeerNote::Subscribed(channel_id));
                }
            }
            HttpServerRequest::WebSocketClose(channel_id) => self.unsubscribe(channel_id),
            HttpServerRequest::WebSocketPush { message_type, .. } => {
                let blob = get_blob().unwrap_or_default();
                let failed =
                    send_ws_push_many(&self.node, self.local.ids(), message_type, blob.clone());
                for (channel_id, error) in failed {
                    match error {
                        // A channel that is gone, or was just closed for not reading, is
                        // no longer a subscriber.
                        HttpServerError::WsChannelNotFound | HttpServerError::SlowConsumer => {
                            self.unsubscribe(channel_id);
                        }
                        error => tracing::debug!(channel_id, %error, "broadcast push refused"),
                    }
                }
                self.federation.publish(message_type, &blob);
            }
            HttpServerRequest::Http(_) => {}
        }
    }

    fn unsubscribe(&mut self, channel_id: u32) {
        if self.local.remove(channel_id) {
            self.federation
                .announce(&PeerNote::Unsubscribed(channel_id));
        }
    }
}
