//! The socket's write half and its send buffer ([`SocketWriter`]), and the fast path that
//! lets a pushing task write to an idle socket at once ([`SocketWriter::write_now`]).
//!
//! All writing happens under the outbox's lock on the socket writer, in poll functions that
//! never wait while holding it: the pushing task writes with a waker that does nothing and
//! hands anything unfinished to the writer task, which is the only one that ever waits on
//! the socket.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::AsyncWrite;

use super::wire::WireFrame;
use crate::ws::conn::{self, WriteHalf};

/// Send-buffer room a writer keeps while it sleeps: what a burst of small frames needs.
/// Anything larger is freed, so a channel that once sent a large frame does not keep its
/// buffer while idle.
const KEPT_ROOM: usize = 4 * 1024;

/// What a write on the fast path came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FastWrite {
    /// The frame is on the socket.
    Written,
    /// The frame is taken, but some of it waits in the buffer: the writer task must flush.
    Unflushed,
}

/// The socket's write half, the bytes waiting to go out on it, and whether the writer task
/// sleeps with everything written.
#[derive(Debug)]
pub struct SocketWriter {
    write: WriteHalf,
    /// Frames gathered for the socket; `out[sent..]` is not written yet.
    pub(super) out: Vec<u8>,
    sent: usize,
    pub(super) idle: bool,
    /// A write failed: the socket is gone.
    pub(super) broken: bool,
}

impl SocketWriter {
    /// The writer for the write half of a channel's socket, on which nothing was written
    /// yet: it is idle, so pushes may write to it at once.
    pub fn new(write: WriteHalf) -> Self {
        Self {
            write,
            out: Vec::new(),
            sent: 0,
            idle: true,
            broken: false,
        }
    }

    /// Writes `frame` now if the writer task is idle, without waiting; otherwise hands it
    /// back to be queued. Whatever cannot finish at once is left for the writer task (and
    /// the socket writer is no longer idle, so later frames queue behind it).
    pub fn write_now(&mut self, frame: WireFrame) -> Result<FastWrite, WireFrame> {
        if !self.idle {
            return Err(frame);
        }
        // Into the send buffer (which an idle socket writer keeps), so it goes in one plain write.
        frame.append_to(&mut self.out);
        Ok(self.write_out())
    }

    /// Writes what was appended to the send buffer of an idle socket writer, without
    /// waiting; whatever cannot finish at once is left for the writer task (and the socket
    /// writer is no longer idle, so later frames queue behind it).
    pub(super) fn write_out(&mut self) -> FastWrite {
        debug_assert!(self.idle && self.sent == 0);
        let mut cx = Context::from_waker(Waker::noop());
        let mut write = Pin::new(&mut self.write);
        let result = write.as_mut().poll_write(&mut cx, &self.out);
        self.idle = false;
        let written = match result {
            Poll::Ready(Ok(n)) => n,
            Poll::Pending => 0,
            Poll::Ready(Err(_)) => {
                // The writer task finds out, and ends, when it is woken to flush.
                self.broken = true;
                return FastWrite::Unflushed;
            }
        };
        if written < self.out.len() {
            self.sent = written;
            return FastWrite::Unflushed;
        }
        self.out.clear();
        match write.poll_flush(&mut cx) {
            Poll::Ready(Ok(())) => {
                self.idle = true;
                FastWrite::Written
            }
            _ => FastWrite::Unflushed,
        }
    }

    /// Writes everything gathered, then flushes.
    pub(super) fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
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

    /// Marks the socket writer idle, letting go of a large send buffer.
    pub(super) fn sleep(&mut self) {
        self.idle = true;
        if self.out.capacity() > KEPT_ROOM {
            self.out = Vec::new();
        }
    }

    /// Lets go of the write half without shutting the socket's writing down.
    pub(super) fn release(self) {
        conn::release(self.write);
    }
}
