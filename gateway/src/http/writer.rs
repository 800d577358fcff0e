//! A channel's writer task: drains the byte-bounded queue into the socket, batching every
//! frame that is already waiting into one flush, and ends with an error or close frame.

use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use process_lib::WsErrorCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::channels::{Outbound, WriterDrain};
use super::refusal::{close_frame, error_frame};
use super::upgrade::WsStream;

/// The socket's write half.
pub type WsSink = SplitSink<WsStream, Message>;

/// Most frames written before one flush.
const BATCH: usize = 64;

fn payload_len(message: &Message) -> usize {
    match message {
        Message::Text(t) => t.len(),
        Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.len(),
        _ => 0,
    }
}

/// How the writer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterEnd {
    /// It sent the error frame and close for this code.
    Failed(WsErrorCode),
    /// It sent a normal close, or the queue closed.
    Closed,
    /// The socket broke.
    Broken,
}

/// Runs until the channel closes. Never holds more than one batch out of the queue.
pub async fn run(mut sink: WsSink, mut drain: WriterDrain) -> WriterEnd {
    while let Some(first) = drain.next().await {
        let mut next = Some(first);
        let mut fed = 0;
        while let Some(outbound) = next.take() {
            match outbound {
                Outbound::Frame(message) => {
                    let len = payload_len(&message);
                    let sent = sink.feed(message).await;
                    drain.written(len);
                    if sent.is_err() {
                        return WriterEnd::Broken;
                    }
                    fed += 1;
                    if fed < BATCH {
                        next = drain.try_next();
                    }
                }
                Outbound::Fail(code, text) => {
                    let _ = sink.feed(error_frame(code, &text)).await;
                    let _ = sink.send(close_frame(code)).await;
                    return WriterEnd::Failed(code);
                }
                Outbound::Close(code, reason) => {
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.into(),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    return WriterEnd::Closed;
                }
            }
        }
        if sink.flush().await.is_err() {
            return WriterEnd::Broken;
        }
    }
    WriterEnd::Closed
}
