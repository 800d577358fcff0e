//! What goes out on one channel: the byte-bounded queue in front of its socket, and the
//! fast path around it.
//!
//! A reply — the first push to a channel after the client sent it a frame, as an echo or a
//! request-response exchange makes — whose channel is idle (nothing queued, the writer task
//! asleep with everything flushed) is written by the pushing task at once, with a
//! non-blocking write; the writer task is not woken at all. Every other push is queued, and
//! the writer task drains the queue in order, batching what waits into one write: a process
//! that pushes one frame to many channels, many times, gets fewer system calls that way.
//! Either way a push never waits on the socket. The queue is bounded in bytes, not
//! frames: a push that would overflow it marks the channel as a slow consumer and closes it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use parking_lot::{Mutex, MutexGuard};
use process_lib::{HttpServerError, WsErrorCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::channels::Channel;
use super::queue::{Queue, Refused};
use super::wire::WireFrame;
use super::writer::{Direct, Slot};

/// What a channel's writer task is asked to do.
#[derive(Debug)]
pub enum Outbound {
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

/// What both ends share.
#[derive(Debug, Default)]
struct Shared {
    /// What waits for the writer task, with its payload bytes counted against the limit.
    frames: Queue<Outbound>,
    /// The socket's write half, once the writer task runs. Whoever writes holds this lock,
    /// so frames reach the socket in the order they were pushed.
    slot: Mutex<Option<Slot>>,
}

/// The sending side of one channel's outbound path.
#[derive(Debug)]
pub struct WriterQueue {
    shared: Arc<Shared>,
    limit: usize,
    closing: AtomicBool,
    /// The channel's reader, to be woken when a close is asked for.
    closing_waker: AtomicWaker,
    /// The client sent a frame and no push has come since: the next push is its reply.
    awaiting_reply: AtomicBool,
}

/// The writer task's side: takes frames out and counts bytes out as it writes them.
#[derive(Debug)]
pub struct WriterDrain {
    shared: Arc<Shared>,
}

/// A queue holding at most `limit` bytes of frames.
pub fn writer_queue(limit: usize) -> (WriterQueue, WriterDrain) {
    let shared = Arc::new(Shared::default());
    (
        WriterQueue {
            shared: shared.clone(),
            limit,
            closing: AtomicBool::new(false),
            closing_waker: AtomicWaker::new(),
            awaiting_reply: AtomicBool::new(false),
        },
        WriterDrain { shared },
    )
}

impl WriterDrain {
    /// The oldest thing queued, if any (tests look at what a push queued).
    #[cfg(test)]
    pub fn try_next(&self) -> Option<Outbound> {
        self.shared.frames.try_pop()
    }

    /// Moves everything queued into the empty `batch`, after marking `written` payload
    /// bytes as gone to the socket; `Pending` with `cx` woken by the next push when nothing
    /// is queued (see [`Queue::poll_take_all`]); `Ready(false)` when the sending side is
    /// gone and all is taken.
    pub fn poll_take(
        &self,
        batch: &mut VecDeque<Outbound>,
        written: usize,
        keep_room: bool,
        cx: &mut Context<'_>,
    ) -> Poll<bool> {
        self.shared
            .frames
            .poll_take_all(batch, written, keep_room, cx)
    }

    /// Hands the socket's write half over; from now on idle pushes may write to it.
    pub fn attach(&self, slot: Slot) {
        *self.shared.slot.lock() = Some(slot);
    }

    /// The write half, locked against pushing tasks for as long as the guard lives.
    pub fn slot(&self) -> MutexGuard<'_, Option<Slot>> {
        self.shared.slot.lock()
    }

    /// Takes the write half back (dropping it closes the socket's write side once the
    /// reader is gone too). Idle pushes queue from now on.
    pub fn detach(&self) -> Option<Slot> {
        self.shared.slot.lock().take()
    }
}

impl Drop for WriterDrain {
    fn drop(&mut self) {
        self.shared.frames.close();
    }
}

impl Drop for WriterQueue {
    fn drop(&mut self) {
        self.shared.frames.close();
    }
}

impl WriterQueue {
    /// Writes or queues a frame, or reports a slow consumer (and closes the channel). The
    /// frame's bytes on the wire count against the queue's limit.
    pub(super) fn push_frame(&self, frame: WireFrame) -> Result<(), HttpServerError> {
        if self.closing.load(Ordering::Acquire) {
            return Err(HttpServerError::WsChannelNotFound);
        }
        // A load first: most pushes (a fan-out's) are not replies, and a plain load does
        // not hold up the pushes around it the way a swap does.
        let reply = self.awaiting_reply.load(Ordering::Relaxed)
            && self.awaiting_reply.swap(false, Ordering::AcqRel);
        let written = if reply {
            self.write_now(frame)
        } else {
            Err(frame)
        };
        let frame = match written {
            Ok(direct) => {
                if direct == Direct::Unflushed {
                    // Its bytes wait in the socket's buffer: the writer task finishes them.
                    self.control(Outbound::Flush);
                }
                return Ok(());
            }
            Err(frame) => frame,
        };
        let len = frame.len();
        match self
            .shared
            .frames
            .push(Outbound::Frame(frame), len, self.limit)
        {
            Ok(()) => Ok(()),
            Err(Refused::Closed(_)) => Err(HttpServerError::WsChannelNotFound),
            Err(Refused::Full(_)) => {
                self.fail(
                    WsErrorCode::SlowConsumer,
                    "the client did not read its messages fast enough",
                );
                Err(HttpServerError::SlowConsumer)
            }
        }
    }

    /// Queues an instruction for the writer task; it counts no bytes and is never refused
    /// for room (a closed queue drops it: the writer is gone).
    fn control(&self, outbound: Outbound) {
        let _ = self.shared.frames.push(outbound, 0, usize::MAX);
    }

    /// The fast path: when the writer task is idle and nothing is queued, writes `frame`
    /// without waiting. Hands it back when it must be queued instead.
    fn write_now(&self, frame: WireFrame) -> Result<Direct, WireFrame> {
        // Someone else is writing (the writer task, or another pusher): queue behind them.
        let Some(mut guard) = self.shared.slot.try_lock() else {
            return Err(frame);
        };
        match guard.as_mut() {
            Some(slot) if self.shared.frames.is_empty() => slot.write_now(frame),
            _ => Err(frame),
        }
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
        if let Err(Refused::Full(_)) =
            self.shared
                .frames
                .push(Outbound::Frame(frame), len, self.limit)
        {
            self.fail(
                WsErrorCode::SlowConsumer,
                "the client did not read its messages fast enough",
            );
        }
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
        if !self.closing.swap(true, Ordering::AcqRel) {
            self.control(Outbound::Fail(code, message.into()));
            self.closing_waker.wake();
        }
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
        if !self.closing.swap(true, Ordering::AcqRel) {
            self.control(Outbound::Close(frame));
            self.closing_waker.wake();
        }
    }

    /// Ready once a close has been asked for; until then `cx` is woken by the close. Only
    /// the channel's reader waits on this (one waker is kept). Cheap to poll again: the
    /// reader polls it whenever no frame is waiting.
    pub fn poll_closing(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.closing_waker.register(cx.waker());
        if self.is_closing() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Whether a close has been asked for.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }
}

/// A channel's queue as the reader's tungstenite socket sees it: what that socket writes
/// (see [`super::conn`]) is queued for the channel's writer.
#[derive(Debug, Clone)]
pub struct Replies(Arc<Channel>);

impl Replies {
    /// Writes to `channel`'s queue.
    pub fn new(channel: Arc<Channel>) -> Self {
        Self(channel)
    }

    /// Queues `bytes`, whole frames tungstenite formatted.
    pub fn write(&self, bytes: &[u8]) {
        self.0.writer.push_reply(bytes);
    }
}
