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

use super::wire::WireFrame;
use super::{OutboxDrain, Outgoing};
use crate::ws::refusal::{close_frame, error_frame};

/// Bytes gathered for the socket before they are written in one call.
pub(super) const BATCH_BYTES: usize = 64 * 1024;

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
    /// Bytes gathered since the last release from the queue's count, released once they are
    /// written: with the next take when the batch is done, or on their own when the batch
    /// still holds frames (a batch can be far larger than one write, and its written bytes
    /// must not count against the limit while the rest go out).
    gathered: usize,
    /// How the writer ends once what is gathered is written (an error or close frame is
    /// among it).
    ending: Option<WriterEnd>,
    /// The last take brought more than one item.
    burst: bool,
    /// When a sampled push in the batch was made: timed once the batch is written.
    stamp: Option<u64>,
}

/// Runs until the channel closes, writing to the socket writer `drain` has attached. Never
/// holds more than one batch out of the queue.
pub async fn run(drain: OutboxDrain) -> WriterEnd {
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
        if !at.batch.is_empty() && at.gathered > 0 {
            drain.release(std::mem::take(&mut at.gathered));
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
                frames += frame.frames();
                bytes += frame.len() as u64;
                frame.append_to(out);
            }
            // The bytes it stands for are in the socket writer's buffer already.
            Outgoing::Flush => {}
            Outgoing::Fail(code, text) => {
                // A protocol failure is a close frame alone, as RFC 6455 asks.
                if !code.is_protocol_failure() {
                    WireFrame::from_message(error_frame(code, &text)).append_to(out);
                }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use process_lib::{HttpServerError, WsErrorCode};
    use tokio_tungstenite::tungstenite::Message;

    use super::*;
    use crate::ws::outbound::test_wire::{
        bytes_of, close_frame_of, push, wire, wire_buffered, WAIT,
    };

    #[tokio::test]
    async fn fast_path_and_queued_frames_reach_the_wire_in_push_order() {
        let mut wire = wire(1 << 20).await;
        // Queued: the writer task writes it, then sleeps with everything flushed.
        push(&wire.outbox, "a").expect("a");
        wire.expect(&[Message::text("a")]).await;
        // A reply to an idle socket is written by the pushing task itself; the frames
        // pushed after it queue behind it, a later reply too while they wait.
        wire.outbox.expect_reply();
        push(&wire.outbox, "b").expect("b");
        assert!(wire.outbox.shared.frames.is_empty(), "b went out at once");
        push(&wire.outbox, "c").expect("c");
        wire.outbox.expect_reply();
        push(&wire.outbox, "d").expect("d");
        push(&wire.outbox, "e").expect("e");
        wire.outbox.close(1000, "");
        let (end, rest) = wire.finish().await;
        assert_eq!(end, WriterEnd::Closed(1000));
        assert_eq!(
            rest,
            bytes_of(&[
                Message::text("b"),
                Message::text("c"),
                Message::text("d"),
                Message::text("e"),
                close_frame_of(1000, ""),
            ])
        );
    }

    #[tokio::test]
    async fn a_reply_written_at_once_is_followed_by_the_queue_in_order() {
        let mut wire = wire(1 << 20).await;
        push(&wire.outbox, "first").expect("first");
        wire.expect(&[Message::text("first")]).await;
        wire.outbox.expect_reply();
        push(&wire.outbox, "reply").expect("reply");
        // The fast path wrote it whole: nothing was queued for the writer task.
        assert!(wire.outbox.shared.frames.is_empty());
        wire.expect(&[Message::text("reply")]).await;
        push(&wire.outbox, "after").expect("after");
        wire.expect(&[Message::text("after")]).await;
    }

    #[tokio::test]
    async fn a_close_is_written_once_and_last_and_nothing_follows_it() {
        let wire = wire(1 << 20).await;
        push(&wire.outbox, "before").expect("before");
        wire.outbox.close(4000, "done");
        // Only the first close counts; after it no frame is taken.
        wire.outbox.fail(WsErrorCode::GoingAway, "too late");
        wire.outbox.close(1000, "");
        assert_eq!(
            push(&wire.outbox, "after"),
            Err(HttpServerError::WsChannelNotFound)
        );
        wire.outbox
            .replies()
            .write(&bytes_of(&[Message::Pong(Vec::new().into())]));
        let (end, rest) = wire.finish().await;
        assert_eq!(end, WriterEnd::Closed(4000));
        assert_eq!(
            rest,
            bytes_of(&[Message::text("before"), close_frame_of(4000, "done")])
        );
    }

    #[tokio::test]
    async fn a_failure_sends_its_error_frame_then_its_close_and_ends_the_writer() {
        let mut wire = wire(1 << 20).await;
        push(&wire.outbox, "hello").expect("hello");
        wire.expect(&[Message::text("hello")]).await;
        // The writer is asleep; the failure wakes it.
        wire.outbox.fail(WsErrorCode::SlowConsumer, "too slow");
        wire.outbox.close(1000, "");
        let (end, rest) = wire.finish().await;
        assert_eq!(end, WriterEnd::Failed(WsErrorCode::SlowConsumer));
        assert_eq!(
            rest,
            bytes_of(&[
                error_frame(WsErrorCode::SlowConsumer, "too slow"),
                close_frame(WsErrorCode::SlowConsumer),
            ])
        );
    }

    #[tokio::test]
    async fn overflowing_the_outbox_fails_the_channel_as_a_slow_consumer() {
        let wire = wire(64).await;
        // The writer task has not run yet, so everything queues.
        push(&wire.outbox, &"x".repeat(40)).expect("fits");
        assert_eq!(
            push(&wire.outbox, &"y".repeat(40)),
            Err(HttpServerError::SlowConsumer)
        );
        assert!(wire.outbox.is_closing());
        let (end, rest) = wire.finish().await;
        assert_eq!(end, WriterEnd::Failed(WsErrorCode::SlowConsumer));
        assert_eq!(
            rest,
            bytes_of(&[
                Message::text("x".repeat(40)),
                error_frame(
                    WsErrorCode::SlowConsumer,
                    "the client did not read its messages fast enough"
                ),
                close_frame(WsErrorCode::SlowConsumer),
            ])
        );
    }

    #[tokio::test]
    async fn bytes_leave_the_count_as_they_are_written_not_when_the_batch_is_done() {
        const FRAMES: usize = 15;
        let mut wire = wire_buffered(1 << 20, Some(16 * 1024)).await;
        let frame = Message::binary(vec![1u8; 64 * 1024]);
        let frame_len = WireFrame::from_message(frame.clone()).len();
        // The writer task has not run yet: all 15 queue (983,190 bytes, under the 1 MiB
        // limit), and it takes them as one batch.
        for _ in 0..FRAMES {
            let pushed = wire
                .outbox
                .push_frame(WireFrame::from_message(frame.clone()));
            pushed.expect("fits");
        }
        assert_eq!(wire.outbox.shared.frames.bytes(), FRAMES * frame_len);
        // The client reads 8 of them; the socket's small buffers hold little of the rest.
        wire.expect(&vec![frame.clone(); 8]).await;
        // What waits is at most the 7 unread frames and the one being written: the count
        // drops while the batch is still being written.
        let waiting = || wire.outbox.shared.frames.bytes();
        let deadline = tokio::time::Instant::now() + WAIT;
        while waiting() > 8 * frame_len {
            assert!(
                tokio::time::Instant::now() < deadline,
                "still counted: {} bytes",
                waiting()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // So 7 more frames fit under the limit, though the first batch is not all written.
        for _ in 0..7 {
            let pushed = wire
                .outbox
                .push_frame(WireFrame::from_message(frame.clone()));
            pushed.expect("a client that reads is not a slow consumer");
        }
        wire.expect(&vec![frame.clone(); FRAMES - 8 + 7]).await;
    }
}
