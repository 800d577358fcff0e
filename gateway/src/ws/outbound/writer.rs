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
    /// It sent a close frame with this close code (1005: one with no code), or the queue
    /// closed with no close frame sent (1006).
    Closed(u16),
    /// The socket broke.
    Broken,
}

impl WriterEnd {
    /// The close code the channel ended with, as RFC 6455 names them: 1006 when no close
    /// frame went out.
    pub fn close_code(self) -> u16 {
        match self {
            Self::Failed(code) => code.close_code(),
            Self::Closed(code) => code,
            Self::Broken => NO_CLOSE_FRAME,
        }
    }
}

/// The close code of a connection that ended with no close frame (RFC 6455, 7.1.5).
pub const NO_CLOSE_FRAME: u16 = 1006;

/// The close code of a close frame that carried none (RFC 6455, 7.1.5).
const NO_STATUS: u16 = 1005;

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
    /// When a sampled push in the batch was made: timed once the batch is written.
    stamp: Option<u64>,
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
        return Poll::Ready(WriterEnd::Closed(NO_CLOSE_FRAME));
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
            if let Some(since) = at.stamp.take() {
                drain.record_push_to_socket(since);
            }
            let written = std::mem::take(&mut at.gathered);
            // Before the take: the sampled push's frame is then in this batch.
            let stamp = drain.take_stamp();
            // A writer that took several frames at once is likely to again: its queue
            // keeps the emptied buffer when it sleeps, so the next burst allocates nothing.
            match drain.poll_take(&mut at.batch, written, at.burst, cx) {
                Poll::Ready(true) => {
                    at.burst = at.batch.len() > 1;
                    at.stamp = stamp;
                }
                Poll::Ready(false) => return Poll::Ready(WriterEnd::Closed(NO_CLOSE_FRAME)),
                Poll::Pending => {
                    // Everything is written and nothing is queued: pushes may write
                    // directly.
                    socket.sleep();
                    return Poll::Pending;
                }
            }
        }
        let (frames, bytes) = gather(at, &mut socket.out);
        drain.count_sent(frames, bytes);
    }
}

/// Moves frames from the batch into `out`, up to [`BATCH_BYTES`] or a closing frame.
/// Returns the frames and their bytes it moved (the closing frames not counted).
fn gather(at: &mut Progress, out: &mut Vec<u8>) -> (u64, u64) {
    let (mut frames, mut bytes) = (0, 0);
    while out.len() < BATCH_BYTES {
        let Some(next) = at.batch.pop_front() else {
            break;
        };
        match next {
            Outgoing::Frame(frame) => {
                at.gathered += frame.len();
                frames += 1;
                bytes += frame.len() as u64;
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
                let code = frame.as_ref().map_or(NO_STATUS, |f| u16::from(f.code));
                WireFrame::close(frame).append_to(out);
                at.ending = Some(WriterEnd::Closed(code));
            }
        }
        if at.ending.is_some() {
            // Nothing goes out after a close frame.
            at.batch.clear();
            break;
        }
    }
    (frames, bytes)
}
