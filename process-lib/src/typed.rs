//! Typed channels: a process serves each WebSocket connection as a pair of typed ends.
//!
//! [`serve`] runs a process's message loop for it. When a client opens a channel, a handler
//! task starts with a [`Connection`]: a [`Receiver`] of `In` values (each client frame,
//! parsed as JSON) and a [`Sender`] of `Out` values (each one pushed to the client as a JSON
//! text frame). The handler lives as long as the connection: when the client goes, its
//! receiver ends; when the handler returns (or panics), the channel is closed.
//!
//! A frame that does not parse as `In` never reaches the handler: the client gets an error
//! frame, `{"error":{"code":"unparsable","message":"…"}}`, and the connection stays open.
//!
//! ```ignore
//! #[derive(Deserialize)] struct Add { by: i64 }
//! #[derive(Serialize)] struct Count { count: i64 }
//!
//! async fn run(_our: Address) -> anyhow::Result<()> {
//!     typed::serve(|mut conn: Connection<Add, Count>| async move {
//!         let mut count = 0;
//!         while let Some(Add { by }) = conn.rx.recv().await {
//!             count += by;
//!             if conn.tx.send(&Count { count }).is_err() { break; }
//!         }
//!     })
//!     .await
//! }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::api::{await_message, close_ws_channel, get_blob, our, send_ws_push};
use crate::blob::LazyLoadBlob;
use crate::host::spawn;
use crate::http::{HttpServerError, HttpServerRequest, WsMessageType};
use crate::message::SendError;

/// How many parsed frames may wait for a handler before the process waits for it.
const HANDLER_QUEUE: usize = 64;

/// The code of the error frame a client gets for a frame that does not parse.
pub const UNPARSABLE: &str = "unparsable";

/// What a client sends, as the handler receives it.
pub type Receiver<In> = mpsc::Receiver<In>;

/// One connection, as its handler sees it.
#[derive(Debug)]
pub struct Connection<In, Out> {
    /// The channel's id.
    pub channel_id: u32,
    /// Every frame the client sends, parsed; ends when the client goes.
    pub rx: Receiver<In>,
    /// Pushes values to the client.
    pub tx: Sender<Out>,
}

/// The sending end of a typed channel: each value goes to the client as one JSON text frame.
#[derive(Debug)]
pub struct Sender<Out> {
    node: crate::NodeName,
    channel_id: u32,
    _out: PhantomData<fn(Out)>,
}

impl<Out> Clone for Sender<Out> {
    fn clone(&self) -> Self {
        Self {
            node: self.node.clone(),
            channel_id: self.channel_id,
            _out: PhantomData,
        }
    }
}

impl<Out: Serialize> Sender<Out> {
    /// Pushes `value` to the client. Never blocks; fails when the channel is gone or its
    /// client is not keeping up (see [`send_ws_push`]).
    pub fn send(&self, value: &Out) -> Result<(), HttpServerError> {
        let json = serde_json::to_vec(value).map_err(|_| HttpServerError::MalformedRequest)?;
        send_ws_push(
            &self.node,
            self.channel_id,
            WsMessageType::Text,
            LazyLoadBlob::new(Some("application/json"), json),
        )
    }

    /// The channel this sender writes to.
    pub fn channel_id(&self) -> u32 {
        self.channel_id
    }
}

/// The error frame for a frame that did not parse, in the gateway's error-frame shape.
fn unparsable_frame(detail: &str) -> Vec<u8> {
    serde_json::json!({
        "error": {
            "code": UNPARSABLE,
            "message": format!("the frame is not a valid message for this process: {detail}"),
        }
    })
    .to_string()
    .into_bytes()
}

/// Runs the process's message loop, serving every WebSocket connection with `handler`.
/// Returns only when a request this process sent bounces; other messages are ignored.
pub async fn serve<In, Out, H, Fut>(handler: H) -> Result<(), SendError>
where
    In: DeserializeOwned + Send + 'static,
    Out: Serialize + Send + 'static,
    H: Fn(Connection<In, Out>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut server = Server {
        node: our().node,
        handlers: HashMap::new(),
        handler,
        _out: PhantomData,
    };
    loop {
        let message = await_message().await?;
        let Ok(request) = HttpServerRequest::from_json(message.body()) else {
            continue;
        };
        match request {
            HttpServerRequest::WebSocketOpen { channel_id, .. } => server.open(channel_id),
            HttpServerRequest::WebSocketPush {
                channel_id,
                message_type: WsMessageType::Text | WsMessageType::Binary,
            } => server.frame(channel_id).await,
            HttpServerRequest::WebSocketPush { .. } | HttpServerRequest::Http(_) => {}
            HttpServerRequest::WebSocketClose(channel_id) => {
                // Dropping the sender ends the handler's receiver.
                server.handlers.remove(&channel_id);
            }
        }
    }
}

/// What [`serve`] keeps between messages: the handler, and the way into each live
/// connection's handler task.
struct Server<In, Out, H> {
    node: crate::NodeName,
    handlers: HashMap<u32, mpsc::Sender<In>>,
    handler: H,
    _out: PhantomData<fn(Out)>,
}

impl<In, Out, H, Fut> Server<In, Out, H>
where
    In: DeserializeOwned + Send + 'static,
    Out: Serialize + Send + 'static,
    H: Fn(Connection<In, Out>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    /// A client opened `channel_id`: starts its handler task.
    fn open(&mut self, channel_id: u32) {
        let (in_tx, rx) = mpsc::channel(HANDLER_QUEUE);
        self.handlers.insert(channel_id, in_tx);
        let tx = Sender {
            node: self.node.clone(),
            channel_id,
            _out: PhantomData,
        };
        let task = (self.handler)(Connection { channel_id, rx, tx });
        spawn(async move {
            // The handler runs in a task of its own, so its panic ends only this
            // connection; either way its end closes the channel.
            let outcome = spawn(task).await;
            if let Err(error) = outcome {
                tracing::error!(channel_id, %error, "typed channel handler failed");
            }
            let _ = close_ws_channel(channel_id);
        });
    }

    /// A client's text or binary frame on `channel_id` (the current blob): parsed and handed
    /// to the handler, or answered with the error frame.
    async fn frame(&mut self, channel_id: u32) {
        let Some(in_tx) = self.handlers.get(&channel_id) else {
            return;
        };
        let bytes = get_blob().map(|b| b.bytes).unwrap_or_default();
        match serde_json::from_slice::<In>(&bytes) {
            Ok(value) => {
                if in_tx.send(value).await.is_err() {
                    // The handler has finished; its channel is being closed.
                    self.handlers.remove(&channel_id);
                }
            }
            Err(error) => {
                let frame = LazyLoadBlob::new(
                    Some("application/json"),
                    unparsable_frame(&error.to_string()),
                );
                let _ = send_ws_push(&self.node, channel_id, WsMessageType::Text, frame);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_frame_has_the_gateway_shape() {
        let frame: serde_json::Value =
            serde_json::from_slice(&unparsable_frame("expected value")).unwrap();
        assert_eq!(frame["error"]["code"], UNPARSABLE);
        assert!(frame["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("expected value"));
    }
}
