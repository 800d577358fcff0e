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
                    socket.sleep(at.burst);
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

    use process_lib::HttpServerError;
    use tokio::io::AsyncReadExt;
    use tokio::net::tcp::OwnedReadHalf;
    use tokio::net::{TcpSocket, TcpStream};
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_util::either::Either;

    use super::*;
    use crate::ws::outbound::socket_writer::SocketWriter;
    use crate::ws::outbound::{outbox, Outbox};

    const WAIT: Duration = Duration::from_secs(10);

    /// A channel's outbox with its writer task running on the server end of a real
    /// loopback connection; the client end, to read what reached the wire; and the
    /// server's read half, which keeps the socket open until it is dropped.
    struct Wire {
        outbox: Outbox,
        writer: tokio::task::JoinHandle<WriterEnd>,
        client: TcpStream,
        server_read: OwnedReadHalf,
    }

    async fn wire(limit: usize) -> Wire {
        wire_buffered(limit, None).await
    }

    /// A [`wire`] whose socket buffers are set to `buffers` bytes on both ends when given,
    /// so the kernel holds only a little of what the writer writes.
    async fn wire_buffered(limit: usize, buffers: Option<u32>) -> Wire {
        let listener = TcpSocket::new_v4().expect("socket");
        let client = TcpSocket::new_v4().expect("socket");
        if let Some(size) = buffers {
            // An accepted socket takes its buffer sizes from its listener.
            listener.set_send_buffer_size(size).expect("send buffer");
            client.set_recv_buffer_size(size).expect("receive buffer");
        }
        listener
            .bind("127.0.0.1:0".parse().expect("address"))
            .expect("bind");
        let listener = listener.listen(1).expect("listen");
        let client = client
            .connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let (server_read, write) = server.into_split();
        let (outbox, drain) = outbox(limit, metrics::Histogram::noop());
        drain.attach(SocketWriter::new(Either::Left(write)));
        let writer = tokio::spawn(run(drain));
        Wire {
            outbox,
            writer,
            client,
            server_read,
        }
    }

    /// The bytes `messages` take on the wire, in order.
    fn bytes_of(messages: &[Message]) -> Vec<u8> {
        let mut out = Vec::new();
        for message in messages {
            WireFrame::from_message(message.clone()).append_to(&mut out);
        }
        out
    }

    impl Wire {
        /// Reads exactly the bytes of `messages` from the client end.
        async fn expect(&mut self, messages: &[Message]) {
            let expected = bytes_of(messages);
            let mut got = vec![0; expected.len()];
            tokio::time::timeout(WAIT, self.client.read_exact(&mut got))
                .await
                .expect("in time")
                .expect("read");
            assert_eq!(got, expected);
        }

        /// Waits for the writer to end, closes the socket, and returns how the writer
        /// ended with every byte the client read after what it already read.
        async fn finish(self) -> (WriterEnd, Vec<u8>) {
            let Wire {
                writer,
                mut client,
                server_read,
                outbox,
            } = self;
            let end = tokio::time::timeout(WAIT, writer)
                .await
                .expect("the writer ends in time")
                .expect("the writer task");
            drop((server_read, outbox));
            let mut rest = Vec::new();
            tokio::time::timeout(WAIT, client.read_to_end(&mut rest))
                .await
                .expect("in time")
                .expect("read");
            (end, rest)
        }
    }

    fn push(outbox: &Outbox, text: &str) -> Result<(), HttpServerError> {
        outbox.push_frame(WireFrame::from_message(Message::text(text)))
    }

    fn close_frame_of(code: u16, reason: &str) -> Message {
        Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        }))
    }

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
    async fn a_push_at_once_writes_an_idle_socket_and_queues_behind_waiting_frames() {
        let mut wire = wire(1 << 20).await;
        push(&wire.outbox, "first").expect("first");
        wire.expect(&[Message::text("first")]).await;
        // The writer sleeps with everything flushed: the pushing task writes it itself.
        let at_once = |text: &str| {
            wire.outbox
                .push_frame_at_once(WireFrame::from_message(Message::text(text)))
        };
        at_once("second").expect("second");
        assert!(
            wire.outbox.shared.frames.is_empty(),
            "second went out at once"
        );
        // Once a frame waits for the writer task, a push at once queues behind it.
        push(&wire.outbox, "third").expect("third");
        at_once("fourth").expect("fourth");
        wire.outbox.close(1000, "");
        let (end, rest) = wire.finish().await;
        assert_eq!(end, WriterEnd::Closed(1000));
        assert_eq!(
            rest,
            bytes_of(&[
                Message::text("second"),
                Message::text("third"),
                Message::text("fourth"),
                close_frame_of(1000, ""),
            ])
        );
    }

    #[tokio::test]
    async fn a_push_at_once_queues_while_the_writer_gathers_bursts() {
        let mut wire = wire(1 << 20).await;
        let at_once = |outbox: &Outbox, text: &str| {
            outbox.push_frame_at_once(WireFrame::from_message(Message::text(text)))
        };
        // The writer task has not run yet: it takes all three in one take.
        for text in ["a", "b", "c"] {
            push(&wire.outbox, text).expect(text);
        }
        wire.expect(&[Message::text("a"), Message::text("b"), Message::text("c")])
            .await;
        // It sleeps idle, but frames come in bursts here: this one waits for it too.
        at_once(&wire.outbox, "d").expect("d");
        assert!(!wire.outbox.shared.frames.is_empty(), "d was queued");
        wire.expect(&[Message::text("d")]).await;
        // It took that one alone: the next goes out at once.
        at_once(&wire.outbox, "e").expect("e");
        assert!(wire.outbox.shared.frames.is_empty(), "e went out at once");
        wire.expect(&[Message::text("e")]).await;
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
