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
use super::{Outbox, Outgoing};
use crate::telemetry::latency;
use crate::ws::table::Channel;

/// Channels a sweep task writes between two looks of the runtime at its sockets.
const SWEEP_CHUNK: usize = 64;

/// Channels in line for each sweep task: a longer line gets more tasks, which the runtime's
/// workers can run side by side, up to one per worker.
const SWEEP_SPAN: usize = 256;

/// What a push to a channel did with the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swept {
    /// Queued for a sweep that does not have the channel yet: put it on the list.
    List,
    /// Queued for the sweep that has it, or for its writer task.
    Queued,
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
            Ok(None) => Ok(Swept::Queued),
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

    /// A channel not on a sweep's list: an idle socket goes on one, any other queues for
    /// its writer task.
    fn list_or_queue(&self, frame: WireFrame) -> Result<Swept, Refused<Outgoing>> {
        let len = frame.len();
        let limit = self.shared.limit;
        let frames = &self.shared.frames;
        // Whoever holds the socket is writing: its writer task takes the frame after theirs.
        if let Some(guard) = self.shared.socket.try_lock() {
            if guard.as_ref().is_some_and(|socket| socket.idle) {
                frames.push_and_list(Outgoing::Frame(frame), len, limit)?;
                return Ok(Swept::List);
            }
        }
        frames.push(Outgoing::Frame(frame), len, limit)?;
        Ok(Swept::Queued)
    }

    /// A sweep's visit: writes what waits in the queue to the idle socket in one
    /// non-blocking write, leaving to the writer task whatever does not go at once.
    pub fn sweep(&self) {
        let shared = &*self.shared;
        let mut guard = shared.socket.lock();
        let socket = guard.as_mut().filter(|socket| socket.idle);
        let stamp = shared.stamp.take();
        let mut batch = VecDeque::new();
        let plain = |item: &Outgoing| matches!(item, Outgoing::Frame(_));
        if !shared
            .frames
            .unlist_and_take(&mut batch, socket.is_some(), plain)
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
        shared.frames.release(bytes);
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
    /// Puts `listed` (channels a push put on a sweep's list) at the back of the line, and
    /// starts sweep tasks if the line needs more. With no runtime (a test's), writes them
    /// at once.
    pub fn add(self: &Arc<Self>, listed: Vec<Arc<Channel>>) {
        if listed.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            listed.iter().for_each(|channel| channel.outbox.sweep());
            return;
        };
        let start = {
            let mut line = self.state.lock();
            line.waiting.extend(listed);
            let wanted = line
                .waiting
                .len()
                .div_ceil(SWEEP_SPAN)
                .clamp(1, self.most_tasks);
            let start = wanted.saturating_sub(line.tasks);
            line.tasks += start;
            start
        };
        for _ in 0..start {
            runtime.spawn(self.clone().run());
        }
    }

    /// One sweep task: writes channels from the front of the line, a chunk at a time,
    /// letting the runtime look at its sockets (and run what they woke) between chunks.
    async fn run(self: Arc<Self>) {
        let mut chunk = Vec::with_capacity(SWEEP_CHUNK);
        loop {
            {
                let mut line = self.state.lock();
                if line.waiting.is_empty() {
                    line.tasks -= 1;
                    return;
                }
                let take = line.waiting.len().min(SWEEP_CHUNK);
                chunk.extend(line.waiting.drain(..take));
            }
            chunk.drain(..).for_each(|channel| channel.outbox.sweep());
            tokio::task::yield_now().await;
        }
    }
}
