//! What a program sends, done as its process: `Send` is routed with the process as its
//! source, `Push` and `PushMany` go to the channel table (or a peer), exactly as the calls of
//! a process inside the node. What cannot be done is answered: a push's refusal with its
//! `call`, an undelivered message by its `id` (a bounce, when the sender waits for an
//! answer). A frame that cannot be used is answered with an error and counted; too many in a
//! minute and the connection is closed.

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use process_lib::host::Host;
use process_lib::remote::wire::{FromProcess, ToProcess};
use process_lib::{Address, KernelMessage, SendErrorKind, WireMessage, WsErrorCode};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as Frame;

use super::pump::Answer;
use super::Counters;
use crate::runtime::Runtime;
use crate::ws::refusal::Refusal;
use crate::ws::register::read_error;
use crate::ws::upgrade::WsStream;

/// Malformed frames a program may send within [`STRIKE_WINDOW`] before it is disconnected.
pub const MAX_STRIKES: u32 = 16;
/// The window malformed frames are counted in.
pub const STRIKE_WINDOW: Duration = Duration::from_secs(60);

/// Reads the program's frames until the connection ends; says why it ended.
pub async fn run(
    rt: &Runtime,
    our: Address,
    mut stream: SplitStream<WsStream>,
    answers: mpsc::Sender<Answer>,
) -> String {
    let mut reader = Reader {
        rt,
        our,
        answers,
        waiting_for_blob: None,
        strikes: 0,
        window_start: Instant::now(),
    };
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            () = rt.shutdown.cancelled() => {
                let refusal = Refusal::new(WsErrorCode::GoingAway, "the node is shutting down");
                return reader.close(refusal).await;
            }
        };
        let frame = match frame {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => {
                let why = error.to_string();
                return match read_error(error) {
                    Some(refusal) => reader.close(refusal).await,
                    None => why,
                };
            }
            None => return "the socket ended".to_owned(),
        };
        let handled = match frame {
            Frame::Text(text) => reader.header(text.as_bytes()),
            Frame::Binary(bytes) => reader.blob(bytes),
            Frame::Close(_) => return "the program closed the connection".to_owned(),
            Frame::Ping(_) | Frame::Pong(_) | Frame::Frame(_) => Ok(()),
        };
        if let Err(problem) = handled {
            if let Some(refusal) = reader.strike(problem) {
                return reader.close(refusal).await;
            }
        }
    }
}

/// A frame that could not be used: its error code and sentence.
type Problem = (WsErrorCode, String);

struct Reader<'a> {
    rt: &'a Runtime,
    our: Address,
    answers: mpsc::Sender<Answer>,
    /// A header whose blob frame is next.
    waiting_for_blob: Option<FromProcess>,
    strikes: u32,
    window_start: Instant,
}

impl Reader<'_> {
    fn header(&mut self, text: &[u8]) -> Result<(), Problem> {
        if let Some(orphan) = self.waiting_for_blob.take() {
            self.strike((
                WsErrorCode::MalformedFrame,
                format!("a header announced a blob, and another header came instead: {orphan:?} was dropped"),
            ));
        }
        self.check_size(text.len(), "header")?;
        let header: FromProcess = serde_json::from_slice(text).map_err(|e| {
            (
                WsErrorCode::MalformedFrame,
                format!("not a header this node knows (Send, Push, PushMany): {e}"),
            )
        })?;
        if header.has_blob() {
            self.waiting_for_blob = Some(header);
            return Ok(());
        }
        self.act(header, None);
        Ok(())
    }

    fn blob(&mut self, bytes: Bytes) -> Result<(), Problem> {
        let Some(header) = self.waiting_for_blob.take() else {
            return Err((
                WsErrorCode::MalformedFrame,
                "a binary frame came with no header announcing a blob before it".to_owned(),
            ));
        };
        self.check_size(bytes.len(), "blob")?;
        self.act(header, Some(bytes));
        Ok(())
    }

    fn check_size(&self, len: usize, what: &str) -> Result<(), Problem> {
        let limit = self.rt.config.max_message_size;
        if len > limit {
            return Err((
                WsErrorCode::MessageTooBig,
                format!("a {what} of {len} bytes is over this node's limit of {limit} bytes"),
            ));
        }
        Ok(())
    }

    /// Does what the header asks, as the process.
    fn act(&mut self, header: FromProcess, blob: Option<Bytes>) {
        match header {
            FromProcess::Send(outgoing) => {
                let message = outgoing.join(self.our.clone(), blob);
                if let Err((kind, message)) = self.rt.send(message) {
                    self.undelivered(kind, message);
                }
            }
            FromProcess::Push {
                call,
                node,
                channel_id,
                message_type,
                blob: header,
            } => {
                let blob = header
                    .unwrap_or_default()
                    .with_bytes(blob.unwrap_or_default());
                let pushed = self
                    .rt
                    .ws_push(&self.our, &node, channel_id, message_type, blob);
                if let Err(error) = pushed {
                    self.answer(Answer::Said(ToProcess::PushRefused {
                        call,
                        failed: vec![(channel_id, error)],
                    }));
                }
            }
            FromProcess::PushMany {
                call,
                node,
                channel_ids,
                message_type,
                blob: header,
            } => {
                let blob = header
                    .unwrap_or_default()
                    .with_bytes(blob.unwrap_or_default());
                let failed =
                    self.rt
                        .ws_push_many(&self.our, &node, &channel_ids, message_type, &blob);
                if !failed.is_empty() {
                    self.answer(Answer::Said(ToProcess::PushRefused { call, failed }));
                }
            }
        }
    }

    /// Tells the program a message it sent was not delivered: a request whose sender waits
    /// comes back as a bounce (as in the node), anything else as `Undelivered`.
    fn undelivered(&mut self, kind: SendErrorKind, message: KernelMessage) {
        let answer = match message.message {
            WireMessage::Request {
                expects_response: Some(_),
                body,
            } => Answer::Message(KernelMessage {
                id: message.id,
                source: message.target,
                target: self.our.clone(),
                rsvp: None,
                message: WireMessage::Bounce { kind, body },
                blob: message.blob,
            }),
            _ => Answer::Said(ToProcess::Undelivered {
                id: message.id,
                target: message.target,
                kind,
            }),
        };
        self.answer(answer);
    }

    /// Queues an answer; one the program is not reading fast enough for is dropped.
    fn answer(&mut self, answer: Answer) {
        if self.answers.try_send(answer).is_err() {
            Counters::count(&self.rt.outside.dropped_answers);
            tracing::debug!("an answer to the program was dropped: it is not reading");
        }
    }

    /// Counts a malformed frame and tells the program; past the limit, the refusal to close with.
    fn strike(&mut self, (code, message): Problem) -> Option<Refusal> {
        Counters::count(&self.rt.outside.malformed_frames);
        if self.window_start.elapsed() > STRIKE_WINDOW {
            self.window_start = Instant::now();
            self.strikes = 0;
        }
        self.strikes += 1;
        tracing::debug!(code = code.as_str(), %message, strikes = self.strikes, "malformed frame from a program");
        if self.strikes > MAX_STRIKES {
            return Some(Refusal::new(
                WsErrorCode::MalformedFrame,
                format!(
                    "more than {MAX_STRIKES} malformed frames within {} s; the last: {message}",
                    STRIKE_WINDOW.as_secs()
                ),
            ));
        }
        self.answer(Answer::Said(ToProcess::error(code, message)));
        None
    }

    /// Asks the writer to say `refusal` and close; returns why the connection ended.
    async fn close(&mut self, refusal: Refusal) -> String {
        let why = refusal.message.clone();
        // The writer may be stuck on a program that does not read: never wait on it for long.
        let sent = self.answers.send(Answer::Close(refusal));
        let _ = tokio::time::timeout(self.rt.config.close_timeout, sent).await;
        why
    }
}
