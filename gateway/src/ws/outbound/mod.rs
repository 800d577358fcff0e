//! What goes out on one channel: its [`Outbox`] (the byte-bounded queue in front of its
//! socket, and the fast path around it) and the writer that empties it onto the socket.
//!
//! - [`queue`]: the [`ByteQueue`] under each outbox, which holds no storage while idle.
//! - [`wire`]: a frame as it goes on the wire, its header formatted once per push.
//! - [`socket_writer`]: the socket's write half and its send buffer, and the fast-path write.
//! - [`writer`]: the writer task, which drains the outbox and ends with a close.
//!
//! A reply — the first push to a channel after the client sent it a frame, as an echo or a
//! request-response exchange makes — whose channel is idle (nothing queued, and the writer
//! task asleep with everything flushed or not started) is written by the pushing task at
//! once, with a non-blocking write; the writer task is not woken at all. A channel starts
//! its writer task only when something first has to wait (see [`super::channel`]). Every other push is queued, and
//! the writer task drains the queue in order, batching what waits into one write: a process
//! that pushes one frame to many channels, many times, gets fewer system calls that way.
//! Either way a push never waits on the socket. The queue is bounded in bytes, not
//! frames: a push that would overflow it marks the channel as a slow consumer and closes it.
//! What counts is what waits: bytes leave the count as the writer hands them to the socket,
//! not when it next takes from the queue, so a client that reads all the time is never cut
//! for frames already on the wire.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use metrics::Histogram;
use parking_lot::{Mutex, MutexGuard};
use process_lib::{HttpServerError, WsErrorCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

pub mod queue;
pub mod socket_writer;
pub mod sweep;
#[cfg(test)]
pub(crate) mod test_wire;
pub mod wire;
pub mod writer;

use crate::telemetry::latency::{self, Stamp};
use crate::telemetry::Traffic;
use queue::{ByteQueue, Refused};
use socket_writer::{FastWrite, SocketWriter};
use wire::WireFrame;

/// The error frame's sentence for a channel closed as a slow consumer.
const TOO_SLOW: &str = "the client did not read its messages fast enough";

/// What a channel's writer task is asked to do.
#[derive(Debug)]
pub enum Outgoing {
    /// Write a frame.
    Frame(WireFrame),
    /// Finish a frame a pushing task wrote but could not flush.
    Flush,
    /// Send the error frame (none for a protocol failure), then the close frame that goes
    /// with the code, then stop.
    Fail(WsErrorCode, String),
    /// Send this close frame, then stop.
    Close(Option<CloseFrame>),
}

/// What the outbox, the writer task and the reader's [`Replies`] share.
#[derive(Debug)]
struct Shared {
    /// What waits for the writer task, with its payload bytes counted against the limit.
    frames: ByteQueue<Outgoing>,
    /// The socket's write half, once the writer task runs. Whoever writes holds this lock,
    /// so frames reach the socket in the order they were pushed.
    socket: Mutex<Option<SocketWriter>>,
    /// Bytes that may wait in `frames`.
    limit: usize,
    /// A close was asked for: the channel takes no more frames.
    closing: AtomicBool,
    /// The close was for a slow consumer.
    slow_consumer: AtomicBool,
    /// The channel's reader, to be woken when a close is asked for.
    closing_waker: AtomicWaker,
    /// Frames and bytes put on the socket; changed only under the `socket` lock.
    sent: Traffic,
    /// When a sampled push still waiting in `frames` was made.
    stamp: Stamp,
    /// Where sampled push-to-socket times go.
    push_to_socket: Histogram,
}

/// The sending side of one channel's outbound path: pushes write or queue here.
#[derive(Debug)]
pub struct Outbox {
    shared: Arc<Shared>,
    /// The client sent a frame and no push has come since: the next push is its reply.
    awaiting_reply: AtomicBool,
}

/// The writer task's side: takes frames out and counts bytes out as it writes them.
#[derive(Debug)]
pub struct OutboxDrain {
    shared: Arc<Shared>,
}

/// An outbox holding at most `limit` bytes of frames, and its writer's side; sampled
/// push-to-socket times go to `push_to_socket`.
pub fn outbox(limit: usize, push_to_socket: Histogram) -> (Outbox, OutboxDrain) {
    let shared = Arc::new(Shared {
        frames: ByteQueue::default(),
        socket: Mutex::new(None),
        limit,
        closing: AtomicBool::new(false),
        slow_consumer: AtomicBool::new(false),
        closing_waker: AtomicWaker::new(),
        sent: Traffic::default(),
        stamp: Stamp::default(),
        push_to_socket,
    });
    (
        Outbox {
            shared: shared.clone(),
            awaiting_reply: AtomicBool::new(false),
        },
        OutboxDrain { shared },
    )
}

impl OutboxDrain {
    /// The oldest thing queued, if any (tests look at what a push queued).
    #[cfg(test)]
    pub fn try_next(&self) -> Option<Outgoing> {
        self.shared.frames.try_pop()
    }

    /// Moves everything queued into the empty `batch`, after marking `written` payload
    /// bytes as gone to the socket; `Pending` with `cx` woken by the next push when nothing
    /// is queued (see [`ByteQueue::poll_take_all`]); `Ready(false)` when the sending side is
    /// gone and all is taken.
    pub fn poll_take(
        &self,
        batch: &mut VecDeque<Outgoing>,
        written: usize,
        keep_room: bool,
        cx: &mut Context<'_>,
    ) -> Poll<bool> {
        self.shared
            .frames
            .poll_take_all(batch, written, keep_room, cx)
    }

    /// Ready once something waits for a writer (or the sending side is gone); until then
    /// `cx` is woken by the next push. A channel starts its writer task only then.
    pub fn poll_queued(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.shared.frames.poll_queued(cx)
    }

    /// Marks `written` payload bytes as gone to the socket while the writer still holds
    /// frames it took (the next [`OutboxDrain::poll_take`] releases the rest).
    pub fn release(&self, written: usize) {
        self.shared.frames.release(written);
    }

    /// Hands the socket's write half over; from now on idle pushes may write to it.
    pub fn attach(&self, socket: SocketWriter) {
        *self.shared.socket.lock() = Some(socket);
    }

    /// The write half, locked against pushing tasks for as long as the guard lives.
    pub fn socket(&self) -> MutexGuard<'_, Option<SocketWriter>> {
        self.shared.socket.lock()
    }

    /// Takes the write half back (dropping it closes the socket's write side once the
    /// reader is gone too). Idle pushes queue from now on.
    pub fn take_back(&self) -> Option<SocketWriter> {
        self.shared.socket.lock().take()
    }

    /// Counts frames gathered for the socket; only under the [`Self::socket`] lock.
    pub fn count_sent(&self, frames: u64, bytes: u64) {
        self.shared.sent.add(frames, bytes);
    }

    /// Takes the time of a sampled push that waits in the queue, before the queue is
    /// taken: that push's frame is then in what is taken.
    pub fn take_stamp(&self) -> Option<u64> {
        self.shared.stamp.take()
    }

    /// Records the time since a sampled push, once its frame is written.
    pub fn record_push_to_socket(&self, since: u64) {
        latency::record_since(&self.shared.push_to_socket, since);
    }
}

impl Drop for OutboxDrain {
    fn drop(&mut self) {
        self.shared.frames.close();
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.shared.frames.close();
    }
}

impl Outbox {
    /// Writes or queues a frame, or reports a slow consumer (and closes the channel). The
    /// frame's bytes on the wire count against the queue's limit. Only a reply is written
    /// at once; any other push queues for the writer task.
    pub fn push_frame(&self, frame: WireFrame) -> Result<(), HttpServerError> {
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(HttpServerError::WsChannelNotFound);
        }
        // A load first: most pushes (a fan-out's) are not replies, and a plain load does
        // not hold up the pushes around it the way a swap does.
        let reply = self.awaiting_reply.load(Ordering::Relaxed)
            && self.awaiting_reply.swap(false, Ordering::AcqRel);
        let pushed_at = latency::sampled().then(latency::now);
        let written = if reply {
            self.write_now(frame)
        } else {
            Err(frame)
        };
        let frame = match written {
            Ok(written) => {
                if written == FastWrite::Unflushed {
                    // Its bytes wait in the socket's buffer: the writer task finishes them.
                    self.shared.control(Outgoing::Flush);
                    if let Some(at) = pushed_at {
                        self.shared.stamp.set(at);
                    }
                } else if let Some(at) = pushed_at {
                    latency::record_since(&self.shared.push_to_socket, at);
                }
                return Ok(());
            }
            Err(frame) => frame,
        };
        let len = frame.len();
        match self
            .shared
            .frames
            .push(Outgoing::Frame(frame), len, self.shared.limit)
        {
            Ok(()) => {
                // After the frame is queued, so the writer that takes the stamp takes the
                // frame in the same batch.
                if let Some(at) = pushed_at {
                    self.shared.stamp.set(at);
                }
                Ok(())
            }
            Err(Refused::Closed(_)) => Err(HttpServerError::WsChannelNotFound),
            Err(Refused::Full(_)) => {
                self.shared.fail(WsErrorCode::SlowConsumer, TOO_SLOW);
                Err(HttpServerError::SlowConsumer)
            }
        }
    }

    /// The fast path: when the writer task is idle and nothing is queued, writes `frame`
    /// without waiting. Hands it back when it must be queued instead.
    fn write_now(&self, frame: WireFrame) -> Result<FastWrite, WireFrame> {
        // Someone else is writing (the writer task, or another pusher): queue behind them.
        let Some(mut guard) = self.shared.socket.try_lock() else {
            return Err(frame);
        };
        match guard.as_mut() {
            Some(socket) if self.shared.frames.is_empty() => {
                let (frames, len) = (frame.frames(), frame.len() as u64);
                let written = socket.write_now(frame);
                if written.is_ok() {
                    self.shared.sent.add(frames, len);
                }
                written
            }
            _ => Err(frame),
        }
    }

    /// Frames and bytes put on the socket so far.
    pub fn sent(&self) -> (u64, u64) {
        self.shared.sent.get()
    }

    /// Notes that the client sent a frame: the next push to the channel is taken as its
    /// reply, which goes out at once when the socket is idle.
    pub fn expect_reply(&self) {
        self.awaiting_reply.store(true, Ordering::Release);
    }

    /// Queues a frame the gateway itself sends (e.g. the `{"channel_id":N}` reply).
    pub fn send(&self, message: Message) -> Result<(), HttpServerError> {
        self.push_frame(WireFrame::from_message(message))
    }

    /// Closes the channel with an error frame. Only the first close counts.
    pub fn fail(&self, code: WsErrorCode, message: impl Into<String>) {
        self.shared.fail(code, message);
    }

    /// Closes the channel normally. Only the first close counts.
    pub fn close(&self, code: u16, reason: impl Into<String>) {
        self.close_with(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into().into(),
        }));
    }

    /// Closes the channel with `frame` as its close frame (the client's own, when it
    /// started the close). Only the first close counts.
    pub fn close_with(&self, frame: Option<CloseFrame>) {
        if !self.shared.closing.swap(true, Ordering::AcqRel) {
            self.shared.control(Outgoing::Close(frame));
            self.shared.closing_waker.wake();
        }
    }

    /// Ready once a close has been asked for; until then `cx` is woken by the close. Only
    /// the channel's reader waits on this (one waker is kept). Cheap to poll again: the
    /// reader polls it whenever no frame is waiting.
    pub fn poll_closing(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.shared.closing_waker.register(cx.waker());
        if self.is_closing() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Whether a close has been asked for.
    pub fn is_closing(&self) -> bool {
        self.shared.closing.load(Ordering::Acquire)
    }

    /// Whether the channel was closed as a slow consumer (whether or not its error frame
    /// reached the client).
    pub fn was_slow_consumer(&self) -> bool {
        self.shared.slow_consumer.load(Ordering::Relaxed)
    }

    /// What the reader's tungstenite socket writes through (see [`super::conn`]).
    pub fn replies(&self) -> Replies {
        Replies(self.shared.clone())
    }
}

impl Shared {
    /// Closes the channel with an error frame. Only the first close counts.
    fn fail(&self, code: WsErrorCode, message: impl Into<String>) {
        if !self.closing.swap(true, Ordering::AcqRel) {
            if code == WsErrorCode::SlowConsumer {
                self.slow_consumer.store(true, Ordering::Relaxed);
            }
            self.control(Outgoing::Fail(code, message.into()));
            self.closing_waker.wake();
        }
    }

    /// Queues an instruction for the writer task; it counts no bytes and is never refused
    /// for room (a closed queue drops it: the writer is gone).
    fn control(&self, outgoing: Outgoing) {
        let _ = self.frames.push(outgoing, 0, usize::MAX);
    }

    /// Queues bytes the reader's tungstenite socket wrote itself: whole frames (a pong, its
    /// reply to a close), counted against the limit like any other. Dropped once a close has
    /// been asked for, since the writer sends the channel's one close frame.
    fn push_reply(&self, bytes: &[u8]) {
        if self.closing.load(Ordering::Acquire) {
            return;
        }
        let frame = WireFrame::framed(Bytes::copy_from_slice(bytes));
        let len = frame.len();
        if let Err(Refused::Full(_)) = self.frames.push(Outgoing::Frame(frame), len, self.limit) {
            self.fail(WsErrorCode::SlowConsumer, TOO_SLOW);
        }
    }
}

/// A channel's outbox as the reader's tungstenite socket sees it: what that socket writes
/// (see [`super::conn`]) is queued for the channel's writer.
#[derive(Debug, Clone)]
pub struct Replies(Arc<Shared>);

impl Replies {
    /// Queues `bytes`, whole frames tungstenite formatted.
    pub fn write(&self, bytes: &[u8]) {
        self.0.push_reply(bytes);
    }
}
