//! A channel's writer: the socket's write half and its send buffer ([`Slot`]), the fast
//! path that lets a pushing task write to an idle socket at once, and the writer task that
//! drains the queue for everything else, gathering what is already waiting into one write,
//! and ends with an error or close frame.
//!
//! Frames arrive ready for the wire ([`WireFrame`]): the writer copies their bytes into the
//! send buffer and writes it; no WebSocket encoder runs per socket.
//!
//! All writing happens under the slot's lock, in poll functions that never wait while
//! holding it: the pushing task writes with a waker that does nothing and hands anything
//! unfinished to the writer task, which is the only one that ever waits on the socket.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use process_lib::WsErrorCode;
use tokio::io::AsyncWrite;

use super::conn::{self, WriteHalf};
use super::outbound::{Outbound, WriterDrain};
use super::refusal::{close_frame, error_frame};
use super::wire::WireFrame;

/// Bytes gathered for the socket before they are written in one call.
const BATCH_BYTES: usize = 64 * 1024;

/// Send-buffer room a writer keeps while it sleeps: what a burst of small frames needs.
/// Anything larger is freed, so a channel that once sent a large frame does not keep its
/// buffer while idle.
const KEPT_ROOM: usize = 4 * 1024;

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

/// The socket's write half, the bytes waiting to go out on it, and whether the writer task
/// sleeps with everything written.
#[derive(Debug)]
pub struct Slot {
    write: WriteHalf,
    /// Frames gathered for the socket; `out[sent..]` is not written yet.
    out: Vec<u8>,
    sent: usize,
    idle: bool,
    /// A write failed: the socket is gone.
    broken: bool,
}

impl Slot {
    /// A slot for the write half of a channel's socket.
    pub fn new(write: WriteHalf) -> Self {
        Self {
            write,
            out: Vec::new(),
            sent: 0,
            idle: false,
            broken: false,
        }
    }

    /// Writes `frame` now if the writer task is idle, without waiting; otherwise hands it
    /// back to be queued. Whatever cannot finish at once is left for the writer task (and
    /// the slot is no longer idle, so later frames queue behind it).
    pub fn write_now(&mut self, frame: WireFrame) -> Result<Direct, WireFrame> {
        if !self.idle {
            return Err(frame);
        }
        let mut cx = Context::from_waker(Waker::noop());
        // Into the send buffer (which an idle slot keeps), so it goes in one plain write.
        frame.append_to(&mut self.out);
        let mut write = Pin::new(&mut self.write);
        let result = write.as_mut().poll_write(&mut cx, &self.out);
        self.idle = false;
        let written = match result {
            Poll::Ready(Ok(n)) => n,
            Poll::Pending => 0,
            Poll::Ready(Err(_)) => {
                // The writer task finds out, and ends, when it is woken to flush.
                self.broken = true;
                return Ok(Direct::Unflushed);
            }
        };
        if written < self.out.len() {
            self.sent = written;
            return Ok(Direct::Unflushed);
        }
        self.out.clear();
        match write.poll_flush(&mut cx) {
            Poll::Ready(Ok(())) => {
                self.idle = true;
                Ok(Direct::Written)
            }
            _ => Ok(Direct::Unflushed),
        }
    }

    /// Writes everything gathered, then flushes.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let mut write = Pin::new(&mut self.write);
        while self.sent < self.out.len() {
            match write.as_mut().poll_write(cx, &self.out[self.sent..]) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => self.sent += n,
            }
        }
        self.out.clear();
        self.sent = 0;
        write.poll_flush(cx)
    }

    /// Marks the slot idle, letting go of a large send buffer.
    fn sleep(&mut self) {
        self.idle = true;
        if self.out.capacity() > KEPT_ROOM {
            self.out = Vec::new();
        }
    }
}

/// Where the writer task is between polls.
#[derive(Debug, Default)]
struct Progress {
    /// What was taken from the queue and is not gathered yet, oldest first. Its storage
    /// goes back to the queue at the next take; when the writer goes to sleep it is kept
    /// as the queue's room after a burst, and freed otherwise.
    batch: VecDeque<Outbound>,
    /// Bytes gathered since the last take, to be released from the queue's count once they
    /// are written (the next take comes only then).
    gathered: usize,
    /// How the writer ends once what is gathered is written (an error or close frame is
    /// among it).
    ending: Option<WriterEnd>,
    /// The last take brought more than one item.
    burst: bool,
}

/// Runs until the channel closes. Never holds more than one batch out of the queue.
pub async fn run(write: WriteHalf, drain: WriterDrain) -> WriterEnd {
    drain.attach(Slot::new(write));
    let mut progress = Progress::default();
    let end = poll_fn(|cx| poll_write(&drain, &mut progress, cx)).await;
    if let Some(slot) = drain.detach() {
        conn::release(slot.write);
    }
    end
}

fn poll_write(drain: &WriterDrain, at: &mut Progress, cx: &mut Context<'_>) -> Poll<WriterEnd> {
    let mut guard = drain.slot();
    let Some(slot) = guard.as_mut() else {
        return Poll::Ready(WriterEnd::Closed);
    };
    slot.idle = false;
    loop {
        if slot.broken {
            return Poll::Ready(WriterEnd::Broken);
        }
        match slot.poll_send(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => return Poll::Ready(WriterEnd::Broken),
            Poll::Ready(Ok(())) => {}
        }
        if let Some(end) = at.ending {
            return Poll::Ready(end);
        }
        if at.batch.is_empty() {
            let written = std::mem::take(&mut at.gathered);
            // A writer that took several frames at once is likely to again: its queue
            // keeps the emptied buffer when it sleeps, so the next burst allocates nothing.
            match drain.poll_take(&mut at.batch, written, at.burst, cx) {
                Poll::Ready(true) => at.burst = at.batch.len() > 1,
                Poll::Ready(false) => return Poll::Ready(WriterEnd::Closed),
                Poll::Pending => {
                    // Everything is written and nothing is queued: pushes may write
                    // directly.
                    slot.sleep();
                    return Poll::Pending;
                }
            }
        }
        gather(at, &mut slot.out);
    }
}

/// Moves frames from the batch into `out`, up to [`BATCH_BYTES`] or a closing frame.
fn gather(at: &mut Progress, out: &mut Vec<u8>) {
    while out.len() < BATCH_BYTES {
        let Some(next) = at.batch.pop_front() else {
            return;
        };
        match next {
            Outbound::Frame(frame) => {
                at.gathered += frame.len();
                frame.append_to(out);
            }
            // The bytes it stands for are in the slot already.
            Outbound::Flush => {}
            Outbound::Fail(code, text) => {
                // A protocol failure is a close frame alone, as RFC 6455 asks.
                if !code.is_protocol_failure() {
                    WireFrame::from_message(error_frame(code, &text)).append_to(out);
                }
                WireFrame::from_message(close_frame(code)).append_to(out);
                at.ending = Some(WriterEnd::Failed(code));
            }
            Outbound::Close(frame) => {
                WireFrame::close(frame).append_to(out);
                at.ending = Some(WriterEnd::Closed);
            }
        }
        if at.ending.is_some() {
            // Nothing goes out after a close frame.
            at.batch.clear();
            return;
        }
    }
}
