//! A channel's writer task: drains the outbox for everything the fast path
//! ([`super::socket_writer`]) did not write, gathering what is already waiting into one
//! write, and ends with an error or close frame, after which nothing is written.
//!
//! Frames arrive ready for the wire ([`WireFrame`]): the writer copies their bytes into the
//! send buffer and writes it; no WebSocket encoder runs per socket.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Context, Poll};

use process_lib::WsErrorCode;

use super::socket_writer::SocketWriter;
use super::wire::WireFrame;
use super::{OutboxDrain, Outgoing};
use crate::ws::conn::WriteHalf;
use crate::ws::refusal::{close_frame, error_frame};

/// Bytes gathered for the socket before they are written in one call.
const BATCH_BYTES: usize = 64 * 1024;

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

/// Where the writer task is between polls.
#[derive(Debug, Default)]
struct Progress {
    /// What was taken from the queue and is not gathered yet, oldest first. Its storage
    /// goes back to the queue at the next take; when the writer goes to sleep it is kept
    /// as the queue's room after a burst, and freed otherwise.
    batch: VecDeque<Outgoing>,
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
pub async fn run(write: WriteHalf, drain: OutboxDrain) -> WriterEnd {
    drain.attach(SocketWriter::new(write));
    let mut progress = Progress::default();
    let end = poll_fn(|cx| poll_write(&drain, &mut progress, cx)).await;
    if let Some(socket) = drain.take_back() {
        socket.release();
    }
    end
}

fn poll_write(drain: &OutboxDrain, at: &mut Progress, cx: &mut Context<'_>) -> Poll<WriterEnd> {
    let mut guard = drain.socket();
    let Some(socket) = guard.as_mut() else {
        return Poll::Ready(WriterEnd::Closed);
    };
    socket.idle = false;
    loop {
        if socket.broken {
            return Poll::Ready(WriterEnd::Broken);
        }
        match socket.poll_send(cx) {
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
                    socket.sleep();
                    return Poll::Pending;
                }
            }
        }
        gather(at, &mut socket.out);
    }
}

/// Moves frames from the batch into `out`, up to [`BATCH_BYTES`] or a closing frame.
fn gather(at: &mut Progress, out: &mut Vec<u8>) {
    while out.len() < BATCH_BYTES {
        let Some(next) = at.batch.pop_front() else {
            return;
        };
        match next {
            Outgoing::Frame(frame) => {
                at.gathered += frame.len();
                frame.append_to(out);
            }
            // The bytes it stands for are in the socket writer's buffer already.
            Outgoing::Flush => {}
            Outgoing::Fail(code, text) => {
                WireFrame::from_message(error_frame(code, &text)).append_to(out);
                WireFrame::from_message(close_frame(code)).append_to(out);
                at.ending = Some(WriterEnd::Failed(code));
            }
            Outgoing::Close(frame) => {
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
