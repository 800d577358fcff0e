//! A channel's writer: the socket's write half ([`Slot`]), the fast path that lets a pushing
//! task write to an idle socket at once, and the writer task that drains the queue for
//! everything else, batching what is already waiting into one flush, and ends with an error
//! or close frame.
//!
//! All writing happens under the slot's lock, in poll functions that never wait while
//! holding it: the pushing task writes with a waker that does nothing and hands anything
//! unfinished to the writer task, which is the only one that ever waits on the socket.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_util::stream::SplitSink;
use futures_util::Sink;
use process_lib::WsErrorCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::outbound::{Outbound, WriterDrain};
use super::refusal::{close_frame, error_frame};
use super::upgrade::WsStream;

/// The socket's write half.
pub type WsSink = SplitSink<WsStream, Message>;

/// Most frames written before one flush.
const BATCH: usize = 64;

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

/// What a write on the fast path came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direct {
    /// The frame is on the socket.
    Written,
    /// The frame is taken, but some of it waits in the buffer: the writer task must flush.
    Unflushed,
}

/// The socket's write half, and whether the writer task sleeps with everything flushed.
pub struct Slot {
    sink: WsSink,
    idle: bool,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("idle", &self.idle).finish()
    }
}

impl Slot {
    /// Writes `message` now if the writer task is idle, without waiting; otherwise hands it
    /// back to be queued. Whatever cannot finish at once is left for the writer task (and
    /// the slot is no longer idle, so later frames queue behind it).
    pub fn write_now(&mut self, message: Message) -> Result<Direct, Message> {
        if !self.idle {
            return Err(message);
        }
        let mut cx = Context::from_waker(Waker::noop());
        let mut sink = Pin::new(&mut self.sink);
        if !matches!(sink.as_mut().poll_ready(&mut cx), Poll::Ready(Ok(()))) {
            self.idle = false;
            return Err(message);
        }
        if sink.as_mut().start_send(message).is_err() {
            // The socket is broken; the writer task finds out on its next flush.
            self.idle = false;
            return Ok(Direct::Unflushed);
        }
        match sink.poll_flush(&mut cx) {
            Poll::Ready(Ok(())) => Ok(Direct::Written),
            _ => {
                self.idle = false;
                Ok(Direct::Unflushed)
            }
        }
    }
}

/// Where the writer task is between polls.
#[derive(Debug, Default)]
struct Progress {
    /// What was taken from the queue and is not written yet, oldest first. Its storage goes
    /// back to the queue at the next take, and is freed when the writer goes to sleep.
    batch: VecDeque<Outbound>,
    /// Payload bytes written since the last take, to be released from the queue's count.
    written: usize,
    /// Frames written since the last flush.
    fed: usize,
    /// Bytes were written that are not flushed yet.
    unflushed: bool,
    /// A last frame to send (the close after an error frame) and how the writer then ends.
    ending: Option<(Option<Message>, WriterEnd)>,
}

/// Runs until the channel closes. Never holds more than one batch out of the queue.
pub async fn run(sink: WsSink, drain: WriterDrain) -> WriterEnd {
    drain.attach(Slot { sink, idle: false });
    let mut progress = Progress::default();
    let end = poll_fn(|cx| poll_write(&drain, &mut progress, cx)).await;
    drop(drain.detach());
    end
}

fn poll_write(drain: &WriterDrain, at: &mut Progress, cx: &mut Context<'_>) -> Poll<WriterEnd> {
    let mut guard = drain.slot();
    let Some(slot) = guard.as_mut() else {
        return Poll::Ready(WriterEnd::Closed);
    };
    slot.idle = false;
    let mut sink = Pin::new(&mut slot.sink);
    loop {
        if let Some((last, end)) = &mut at.ending {
            let end = *end;
            if let Some(frame) = last.take() {
                match sink.as_mut().poll_ready(cx) {
                    Poll::Pending => {
                        *last = Some(frame);
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(end),
                    Poll::Ready(Ok(())) => {
                        if sink.as_mut().start_send(frame).is_err() {
                            return Poll::Ready(end);
                        }
                    }
                }
            }
            return sink.as_mut().poll_flush(cx).map(|_| end);
        }
        match sink.as_mut().poll_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => return Poll::Ready(WriterEnd::Broken),
            Poll::Ready(Ok(())) => {}
        }
        let next = if at.fed < BATCH {
            at.batch.pop_front().or_else(|| {
                let written = std::mem::take(&mut at.written);
                drain.take(&mut at.batch, written);
                at.batch.pop_front()
            })
        } else {
            None
        };
        let next = match next {
            Some(next) => next,
            None if at.unflushed => {
                match sink.as_mut().poll_flush(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(_)) => return Poll::Ready(WriterEnd::Broken),
                    Poll::Ready(Ok(())) => {}
                }
                at.unflushed = false;
                at.fed = 0;
                continue;
            }
            None => {
                let written = std::mem::take(&mut at.written);
                match drain.poll_take(&mut at.batch, written, cx) {
                    Poll::Ready(true) => continue,
                    Poll::Ready(false) => return Poll::Ready(WriterEnd::Closed),
                    Poll::Pending => {
                        // Everything is flushed and nothing is queued: pushes may write
                        // directly.
                        slot.idle = true;
                        return Poll::Pending;
                    }
                }
            }
        };
        match next {
            Outbound::Frame(message) => {
                let len = payload_len(&message);
                let sent = sink.as_mut().start_send(message);
                at.written += len;
                if sent.is_err() {
                    return Poll::Ready(WriterEnd::Broken);
                }
                at.fed += 1;
                at.unflushed = true;
            }
            Outbound::Flush => at.unflushed = true,
            Outbound::Fail(code, text) => {
                // The error frame goes now (the sink is ready); the close frame after it.
                let _ = sink.as_mut().start_send(error_frame(code, &text));
                at.ending = Some((Some(close_frame(code)), WriterEnd::Failed(code)));
            }
            Outbound::Close(code, reason) => {
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.into(),
                };
                at.ending = Some((Some(Message::Close(Some(frame))), WriterEnd::Closed));
            }
        }
    }
}

fn payload_len(message: &Message) -> usize {
    match message {
        Message::Text(t) => t.len(),
        Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.len(),
        _ => 0,
    }
}
