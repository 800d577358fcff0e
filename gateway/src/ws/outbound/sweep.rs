//! Sweeps: how a push to many channels reaches their sockets.
//!
//! A push to many channels does not write, and does not wake a thousand writer tasks. Each
//! channel whose socket is idle gets the frame in its queue, quietly, and joins the node's
//! [`Sweep`], a line of channels waiting to be written; a few sweep tasks take channels from
//! the front of the line and write each one's queue to its socket in one non-blocking
//! write. Between chunks of [`SWEEP_CHUNK`] channels they let the runtime look at its
//! sockets, so a frame that arrives meanwhile is pushed before the sweep goes on: the
//! channels still in line take it with what they hold, in the same write, and those already
//! written join the back of the line. The busier the node, the more frames a write carries,
//! and a quiet node still writes each frame as soon as it is pushed.
//!
//! A channel in line takes later pushes into its queue without a wake, since the sweep
//! will take them; anything a sweep cannot write at once (a socket that is not idle, or
//! that took only part of the bytes) goes to the channel's writer task, as a push to one
//! channel does.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;
use process_lib::{HttpServerError, WsErrorCode};

use super::queue::Refused;
use super::socket_writer::FastWrite;
use super::wire::WireFrame;
use super::writer::BATCH_BYTES;
use super::{Outbox, Outgoing};
use crate::telemetry::latency;
use crate::ws::table::Channel;

/// Channels a sweep task writes between two looks of the runtime at its sockets: the fewer,
/// the sooner a frame that arrives during a sweep joins the channels still in line (measured
/// at 8, 16, 64 and 256 in `bench/findings.md`).
const SWEEP_CHUNK: usize = 16;

/// Channels in line for each sweep task: a longer line gets more tasks, which the runtime's
/// workers can run side by side, up to one per worker.
const SWEEP_SPAN: usize = 256;

/// What a push to a channel did with the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swept {
    /// Queued for a sweep that does not have the channel yet: put it in the line.
    List,
    /// Nothing more to do: written, or queued for the sweep that has the channel already,
    /// or for its writer task.
    Handled,
}

impl Outbox {
    /// Queues `frame` for a sweep (see the module's text), or for the writer task when the
    /// socket is not idle; reports a slow consumer (and closes the channel) as a push does.
    pub fn push_swept(&self, frame: WireFrame) -> Result<Swept, HttpServerError> {
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(HttpServerError::WsChannelNotFound);
        }
        let len = frame.len();
        let limit = self.shared.limit;
        let frames = &self.shared.frames;
        let outcome = match frames.push_if_listed(Outgoing::Frame(frame), len, limit) {
            Ok(None) => Ok(Swept::Handled),
            Ok(Some(Outgoing::Frame(frame))) => self.list_or_queue(frame),
            Ok(Some(_)) => unreachable!("the frame comes back as it went"),
            Err(refused) => Err(refused),
        };
        match outcome {
            Ok(swept) => {
                if latency::sampled() {
                    self.shared.stamp.set(latency::now());
                }
                Ok(swept)
            }
            Err(Refused::Closed(_)) => Err(HttpServerError::WsChannelNotFound),
            Err(Refused::Full(_)) => {
                self.shared.fail(WsErrorCode::SlowConsumer, super::TOO_SLOW);
                Err(HttpServerError::SlowConsumer)
            }
        }
    }

    /// A push to this one channel: a reply as [`Outbox::push_frame`] writes it, any other
    /// frame as [`Outbox::push_swept`] takes it.
    pub fn push_one(&self, frame: WireFrame) -> Result<Swept, HttpServerError> {
        if self.awaiting_reply.load(Ordering::Relaxed) {
            return self.push_frame(frame).map(|()| Swept::Handled);
        }
        self.push_swept(frame)
    }

    /// A channel not on a sweep's list: an idle socket goes on one, any other queues for
    /// its writer task.
    fn list_or_queue(&self, frame: WireFrame) -> Result<Swept, Refused<Outgoing>> {
        let len = frame.len();
        let limit = self.shared.limit;
        let frames = &self.shared.frames;
        // Whoever holds the socket is writing: its writer task takes the frame after theirs.
        if let Some(guard) = self.shared.socket.try_lock() {
            if guard.as_ref().is_some_and(|socket| socket.idle) {
                let listed = frames.push_and_list(Outgoing::Frame(frame), len, limit)?;
                return Ok(if listed { Swept::List } else { Swept::Handled });
            }
        }
        frames.push(Outgoing::Frame(frame), len, limit)?;
        Ok(Swept::Handled)
    }

    /// A sweep's visit: writes what waits in the queue to the idle socket in one
    /// non-blocking write, leaving to the writer task whatever does not go at once, and
    /// anything else it finds: a socket that is not idle, a close, a backlog of more than
    /// one write.
    pub fn sweep(&self) {
        let shared = &*self.shared;
        let mut guard = shared.socket.lock();
        let socket = guard.as_mut().filter(|socket| socket.idle);
        let stamp = shared.stamp.take();
        let mut batch = VecDeque::new();
        let weight = |item: &Outgoing| match item {
            Outgoing::Frame(frame) => Some(frame.len()),
            _ => None,
        };
        // A backlog larger than one write is the writer task's, which writes it a batch at
        // a time and counts it out as it goes.
        if !shared
            .frames
            .unlist_and_take(&mut batch, socket.is_some(), BATCH_BYTES, weight)
        {
            if let Some(at) = stamp {
                shared.stamp.set(at);
            }
            return;
        }
        let Some(socket) = socket else {
            return;
        };
        let (mut frames, mut bytes) = (0, 0);
        for item in batch {
            if let Outgoing::Frame(frame) = item {
                frames += frame.frames();
                bytes += frame.len();
                frame.append_to(&mut socket.out);
            }
        }
        let written = socket.write_out();
        shared.sent.add(frames, bytes as u64);
        drop(guard);
        if written == FastWrite::Unflushed {
            // The rest waits in the socket's buffer: the writer task finishes it.
            shared.control(Outgoing::Flush);
            if let Some(at) = stamp {
                shared.stamp.set(at);
            }
        } else if let Some(at) = stamp {
            latency::record_since(&shared.push_to_socket, at);
        }
    }
}

/// The node's line of channels waiting for a sweep, and the tasks sweeping it.
#[derive(Debug)]
pub struct Sweep {
    state: Mutex<Line>,
    /// Sweep tasks at most: one per worker of the runtime.
    most_tasks: usize,
}

#[derive(Debug, Default)]
struct Line {
    waiting: VecDeque<Arc<Channel>>,
    /// Sweep tasks running; each ends when it finds the line empty.
    tasks: usize,
}

impl Default for Sweep {
    fn default() -> Self {
        Self {
            state: Mutex::new(Line::default()),
            most_tasks: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

impl Sweep {
    /// Puts `listed` (channels a push put in line) at the back of the line, and starts
    /// sweep tasks if the line needs more. With no runtime (a test's), writes them at once.
    pub fn add(self: &Arc<Self>, listed: impl IntoIterator<Item = Arc<Channel>>) {
        let mut listed = listed.into_iter().peekable();
        if listed.peek().is_none() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            listed.for_each(|channel| channel.outbox.sweep());
            return;
        };
        let start = {
            let mut line = self.state.lock();
            line.waiting.extend(listed);
            self.tasks_to_start(&mut line)
        };
        for _ in 0..start {
            runtime.spawn(self.clone().run());
        }
    }

    /// How many more sweep tasks the line needs, counted as started.
    fn tasks_to_start(&self, line: &mut Line) -> usize {
        let wanted = line
            .waiting
            .len()
            .div_ceil(SWEEP_SPAN)
            .clamp(1, self.most_tasks);
        let start = wanted.saturating_sub(line.tasks);
        line.tasks += start;
        start
    }

    /// One sweep task: writes channels from the front of the line, a chunk at a time,
    /// letting the runtime look at its sockets (and run what they woke) between chunks, so
    /// the frames that came meanwhile join the channels still waiting. It ends as soon as
    /// it finds the line empty, so a push that comes later starts a sweep of its own rather
    /// than wait for this one's turn.
    async fn run(self: Arc<Self>) {
        let mut chunk = Vec::with_capacity(SWEEP_CHUNK);
        if !self.next_chunk(&mut chunk) {
            return;
        }
        loop {
            chunk.drain(..).for_each(|channel| channel.outbox.sweep());
            if !self.next_chunk(&mut chunk) {
                return;
            }
            tokio::task::yield_now().await;
        }
    }

    /// Takes the next chunk off the front of the line into `chunk`; with the line empty,
    /// counts the calling task as ended instead and returns false.
    fn next_chunk(&self, chunk: &mut Vec<Arc<Channel>>) -> bool {
        let mut line = self.state.lock();
        if line.waiting.is_empty() {
            line.tasks -= 1;
            return false;
        }
        let take = line.waiting.len().min(SWEEP_CHUNK);
        chunk.extend(line.waiting.drain(..take));
        true
    }
}

#[cfg(test)]
mod tests {
    use process_lib::ProcessId;
    use tokio_tungstenite::tungstenite::Message;

    use super::*;
    use crate::ws::outbound::test_wire::{bytes_of, close_frame_of, wire, wire_buffered, Wire};
    use crate::ws::outbound::writer::WriterEnd;
    use crate::ws::refusal::{close_frame, error_frame};

    fn text(text: &str) -> WireFrame {
        WireFrame::from_message(Message::text(text))
    }

    #[tokio::test]
    async fn a_sweep_writes_what_a_channel_took_while_in_line_in_one_write() {
        let mut wire = wire(1 << 20).await;
        assert_eq!(wire.outbox.push_swept(text("one")), Ok(Swept::List));
        // In line already: the second waits with the first, and no one is woken for it.
        assert_eq!(wire.outbox.push_swept(text("two")), Ok(Swept::Handled));
        wire.outbox.sweep();
        // Both went out in the sweep's write, before the writer task could run at all.
        let on_wire = bytes_of(&[Message::text("one"), Message::text("two")]);
        assert_eq!(wire.outbox.sent(), (2, on_wire.len() as u64));
        assert!(wire.outbox.shared.frames.is_empty());
        assert_eq!(wire.outbox.shared.frames.bytes(), 0);
        wire.expect(&[Message::text("one"), Message::text("two")])
            .await;
        // Out of line after the visit: the next push puts the channel in line again.
        assert_eq!(wire.outbox.push_swept(text("three")), Ok(Swept::List));
    }

    #[tokio::test]
    async fn a_close_asked_while_in_line_follows_the_frames_before_it() {
        let wire = wire(1 << 20).await;
        assert_eq!(wire.outbox.push_swept(text("before")), Ok(Swept::List));
        wire.outbox.close(4000, "done");
        // The sweep leaves a queue holding a close to the writer task, which was woken.
        wire.outbox.sweep();
        assert_eq!(
            wire.outbox.push_swept(text("after")),
            Err(HttpServerError::WsChannelNotFound)
        );
        let (end, rest) = wire.finish().await;
        assert_eq!(end, WriterEnd::Closed(4000));
        assert_eq!(
            rest,
            bytes_of(&[Message::text("before"), close_frame_of(4000, "done")])
        );
    }

    #[tokio::test]
    async fn what_a_socket_does_not_take_at_once_goes_on_through_the_writer_in_order() {
        let mut wire = wire_buffered(1 << 20, Some(16 * 1024)).await;
        // One write's worth, more than the socket's small buffers hold.
        let large = Message::binary(vec![7u8; 60 * 1024]);
        let pushed = wire
            .outbox
            .push_swept(WireFrame::from_message(large.clone()));
        assert_eq!(pushed, Ok(Swept::List));
        // The client does not read yet: the sweep's write leaves part of it to the writer.
        wire.outbox.sweep();
        // The socket is busy now: the next frame queues for the writer, behind the rest.
        assert_eq!(wire.outbox.push_swept(text("after")), Ok(Swept::Handled));
        wire.expect(&[large, Message::text("after")]).await;
    }

    #[tokio::test]
    async fn a_backlog_larger_than_one_write_is_left_to_the_writer() {
        let mut wire = wire(1 << 20).await;
        let big = Message::binary(vec![9u8; 512 * 1024]);
        let pushed = wire.outbox.push_swept(WireFrame::from_message(big.clone()));
        assert_eq!(pushed, Ok(Swept::List));
        wire.outbox.sweep();
        // Not taken: the writer task, woken by the sweep, writes it a batch at a time.
        assert!(!wire.outbox.shared.frames.is_empty());
        assert_eq!(wire.outbox.sent(), (0, 0));
        assert_eq!(wire.outbox.push_swept(text("after")), Ok(Swept::Handled));
        wire.expect(&[big, Message::text("after")]).await;
    }

    #[tokio::test]
    async fn overflowing_a_channel_in_line_fails_it_as_a_slow_consumer() {
        let wire = wire(100).await;
        let forty = "x".repeat(40);
        assert_eq!(wire.outbox.push_swept(text(&forty)), Ok(Swept::List));
        assert_eq!(wire.outbox.push_swept(text(&forty)), Ok(Swept::Handled));
        assert_eq!(
            wire.outbox.push_swept(text(&forty)),
            Err(HttpServerError::SlowConsumer)
        );
        let (end, rest) = wire.finish().await;
        assert_eq!(end, WriterEnd::Failed(WsErrorCode::SlowConsumer));
        assert_eq!(
            rest,
            bytes_of(&[
                Message::text(forty.clone()),
                Message::text(forty),
                error_frame(WsErrorCode::SlowConsumer, super::super::TOO_SLOW),
                close_frame(WsErrorCode::SlowConsumer),
            ])
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_line_is_swept_by_tasks_that_end_when_it_is_empty() {
        const CHANNELS: usize = 300;
        let sweep = Arc::new(Sweep::default());
        let mut clients = Vec::new();
        let mut channels = Vec::new();
        for _ in 0..CHANNELS {
            let (outbox, ends) = wire(1 << 20).await.split();
            let process: ProcessId = "broadcast:broadcast:sys".parse().expect("id");
            channels.push(Arc::new(Channel::new(process, outbox)));
            clients.push(ends);
        }
        // Two rounds pushed back to back: a channel the sweep has not reached yet takes the
        // second round with the first.
        for round in ["first", "second"] {
            let mut listed = Vec::new();
            for channel in &channels {
                if channel.outbox.push_swept(text(round)) == Ok(Swept::List) {
                    listed.push(channel.clone());
                }
            }
            sweep.add(listed);
        }
        let messages = [Message::text("first"), Message::text("second")];
        for (client, _, _) in &mut clients {
            crate::ws::outbound::test_wire::expect_on(client, &messages).await;
        }
        let deadline = tokio::time::Instant::now() + crate::ws::outbound::test_wire::WAIT;
        loop {
            let (tasks, waiting) = {
                let line = sweep.state.lock();
                (line.tasks, line.waiting.len())
            };
            if tasks == 0 {
                assert_eq!(waiting, 0);
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "sweep tasks still running"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_client_that_reads_all_the_time_near_the_limit_is_not_cut() {
        const FRAMES: usize = 1_000;
        /// 14 frames of 65,546 bytes on the wire: under the 1 MiB limit, a 15th not.
        const BEHIND: usize = 14;
        let Wire {
            outbox,
            writer: _writer,
            mut client,
            server_read: _server_read,
        } = wire(1 << 20).await;
        let process: ProcessId = "broadcast:broadcast:sys".parse().expect("id");
        let channel = Arc::new(Channel::new(process, outbox));
        let sweep = Arc::new(Sweep::default());
        let frame = WireFrame::from_message(Message::binary(vec![5u8; 64 * 1024]));
        let frame_len = frame.len();
        let (read_tx, mut read_rx) = tokio::sync::watch::channel(0usize);
        let reader = tokio::spawn(async move {
            let mut buffer = vec![0u8; 100_000];
            let mut total = 0;
            while total < FRAMES * frame_len {
                let n = tokio::io::AsyncReadExt::read(&mut client, &mut buffer)
                    .await
                    .expect("read");
                assert!(n > 0, "the connection ended after {total} bytes");
                total += n;
                read_tx.send_replace(total / frame_len);
            }
        });
        for sent in 0..FRAMES {
            // Pushing frame `sent` leaves the client at most BEHIND frames behind.
            let need = (sent + 1).saturating_sub(BEHIND);
            tokio::time::timeout(
                crate::ws::outbound::test_wire::WAIT,
                read_rx.wait_for(|&read| read >= need),
            )
            .await
            .expect("the client reads in time")
            .expect("the reader runs");
            match channel.outbox.push_swept(frame.clone()) {
                Ok(Swept::List) => sweep.add([channel.clone()]),
                Ok(Swept::Handled) => {}
                Err(error) => panic!("frame {sent} refused: {error:?}"),
            }
        }
        tokio::time::timeout(crate::ws::outbound::test_wire::WAIT, reader)
            .await
            .expect("every frame arrives in time")
            .expect("the reader task");
    }
}
