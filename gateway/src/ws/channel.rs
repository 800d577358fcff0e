//! One channel's life, once admitted: a reader loop (this task) that hands each client
//! frame to the process's mailbox, and a writer task that drains what waits for the socket,
//! until either side ends; then the channel is removed and its process told.
//!
//! The writer task starts with the first frame that has to wait: a channel whose frames
//! all went out at once (replies to an idle socket, see [`super::outbound`]) never has one,
//! which keeps an idle channel to one task.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt;
use process_lib::{
    HttpServerRequest, LazyLoadBlob, ProcessId, WsErrorCode, WsMessageType, WsRegistered,
};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::courier::Courier;
use super::lazy_read::own_payload;
use super::linger::linger;
use super::outbound::socket_writer::SocketWriter;
use super::outbound::writer::{self, WriterEnd, NO_CLOSE_FRAME};
use super::outbound::{outbox, OutboxDrain};
use super::register::read_error;
use super::socket::ChannelSocket;
use super::table::Channel;
use crate::runtime::Runtime;

/// A channel about to open.
#[derive(Debug)]
pub struct OpenChannel {
    /// The process it is bound to.
    pub process: ProcessId,
    /// The path the client connected to.
    pub path: String,
    /// That process's mailbox.
    pub mailbox: crate::kernel::mailbox::Mailbox,
    /// Whether to send the client `{"channel_id":N}` first (the register flow does).
    pub announce: bool,
    /// The connection's places under the node's and its address's connection limits, held
    /// while it lives.
    pub admitted: Option<super::limits::Admitted>,
    /// The client's address, for the logs.
    pub client: Option<SocketAddr>,
}

/// Runs an open channel until it ends: this task reads, and a writer task of its own,
/// started when a frame first has to wait, drains the outbox.
pub fn run_channel(
    rt: Arc<Runtime>,
    mut ws: ChannelSocket,
    open: OpenChannel,
) -> impl Future<Output = ()> {
    let (outbox, drain) = outbox(
        rt.config.writer_queue_bytes,
        rt.telemetry.push_to_socket.clone(),
    );
    let replies = outbox.replies();
    // Taken apart: the task keeps what it uses for its whole life, and the process's id
    // only once, in the channel.
    let OpenChannel {
        process,
        path,
        mailbox,
        announce,
        admitted,
        client,
    } = open;
    // Only the opening uses the path: it is kept as compactly as it can be.
    let path = path.into_boxed_str();
    let (channel_id, channel) = rt.channels.insert(Channel::new(process, outbox));
    // The outbox takes the write half now, so the channel's task does not hold it unused.
    let split = match ws.conn_mut().split_writer(replies) {
        Some(write_half) => {
            drain.attach(SocketWriter::new(write_half));
            true
        }
        None => false,
    };
    let open_token = rt.channel_tasks.token();
    async move {
        // `open_token` is held until the process has been told of the close, so a drain can
        // wait for that. (Not moved into a local: a captured value keeps its own place in
        // the task for its whole life, and the local would be a second one.)
        if !split {
            // Only a socket that already ran as a channel is split; none comes here.
            rt.channels.remove(channel_id);
            return;
        }
        if announce {
            let reply = serde_json::to_string(&WsRegistered { channel_id }).unwrap_or_default();
            // The channel id answers the register frame: it goes out at once, like any reply.
            channel.outbox.expect_reply();
            let _ = channel.outbox.send(Message::text(reply));
        }
        // A courier is made for each event rather than kept: the task then holds only what
        // an event's delivery waits on.
        let opening = HttpServerRequest::WebSocketOpen {
            path: path.to_string(),
            channel_id,
        };
        let delivery = Courier::new(&rt, &channel.process, &mailbox).deliver(opening, None);
        delivery.await;
        let opened = Instant::now();
        tracing::info!(
            channel_id,
            process = %channel.process,
            client = %Client(client),
            path = %path,
            "channel open"
        );

        // A draining node fails every channel (`ws::drain`), which the close branch sees; a
        // channel that opened after the drain took its list of channels fails here.
        if rt.draining.is_cancelled() {
            channel.outbox.fail(WsErrorCode::GoingAway, SHUTTING_DOWN);
        }
        let mut reader = Reader::new(&rt, &channel, channel_id, drain);
        loop {
            // `next` lives in a block of its own, so it is gone before the delivery's wait
            // and the task keeps no room for it there.
            let delivery = {
                let next = poll_fn(|cx| reader.poll_event(&mut ws, cx)).await;
                // A client's frame goes to the process's mailbox.
                match next {
                    Next::Deliver(kind, blob) => {
                        Courier::new(&rt, &channel.process, &mailbox).push(channel_id, kind, blob)
                    }
                    Next::Wait => continue,
                    Next::Stop => break,
                }
            };
            delivery.await;
        }

        rt.channels.remove(channel_id);
        let failed_mid_stream = reader.failed && !reader.peer_closed;
        reader.finish();
        let writer_end = poll_fn(|cx| reader.poll_finish(cx)).await;
        closed(&rt, channel_id, client, &channel, writer_end, opened);
        // A restarted process never saw this channel: it is not told of its close.
        if writer_end != Some(WriterEnd::Failed(WsErrorCode::ProcessRestarted)) {
            let closing = HttpServerRequest::WebSocketClose(channel_id);
            let delivery = Courier::new(&rt, &channel.process, &mailbox).deliver(closing, None);
            delivery.await;
        }
        // A client failed mid-message is still sending it: its close frame must not be
        // lost to a reset (`ws::linger`). The socket keeps its places under the node's
        // connection limits until it is closed.
        if failed_mid_stream && writer_end.is_some_and(|end| end != WriterEnd::Broken) {
            let close_timeout = rt.config.close_timeout;
            tokio::spawn(async move {
                linger(ws.into_inner(), close_timeout).await;
                drop(admitted);
            });
        } else {
            // Held until now: the connection's places under the node's connection limits.
            drop(admitted);
        }
        drop(open_token);
    }
}

/// Logs a channel's end and counts it: its close code, and what it moved.
fn closed(
    rt: &Runtime,
    channel_id: u32,
    client: Option<SocketAddr>,
    channel: &Channel,
    writer_end: Option<WriterEnd>,
    opened: Instant,
) {
    let close_code = writer_end.map_or(NO_CLOSE_FRAME, WriterEnd::close_code);
    let traffic = channel.traffic();
    tracing::info!(
        channel_id,
        process = %channel.process,
        client = %Client(client),
        close_code,
        duration_ms = u64::try_from(opened.elapsed().as_millis()).unwrap_or(u64::MAX),
        frames_in = traffic.frames_in,
        frames_out = traffic.frames_out,
        bytes_in = traffic.bytes_in,
        bytes_out = traffic.bytes_out,
        "channel closed"
    );
    let telemetry = &rt.telemetry;
    telemetry.closed_traffic.add(traffic);
    telemetry.closes.add(&close_code.to_string());
    if channel.outbox.was_slow_consumer() {
        telemetry
            .slow_consumer_closes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A client's address in a log line, `-` when unknown.
struct Client(Option<SocketAddr>);

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// What the reader loop does after an event.
enum Next {
    /// Hand a client's frame to the process.
    Deliver(WsMessageType, LazyLoadBlob),
    /// Wait for the next event.
    Wait,
    /// The channel is over.
    Stop,
}

/// The channel's writer task, once something has waited for it.
enum WriterTask {
    /// Nothing had to wait yet: pushes wrote to the socket themselves.
    Unstarted(OutboxDrain),
    /// Running, or ended.
    Started(JoinHandle<WriterEnd>),
    /// Only for the moment a start takes.
    Starting,
}

impl WriterTask {
    /// Starts the writer task unless it runs already; its handle.
    fn start(&mut self) -> &mut JoinHandle<WriterEnd> {
        *self = match std::mem::replace(self, Self::Starting) {
            Self::Unstarted(drain) => Self::Started(tokio::spawn(writer::run(drain))),
            started => started,
        };
        match self {
            Self::Started(task) => task,
            // Every path above leaves it started.
            Self::Unstarted(_) | Self::Starting => unreachable!("the writer task was started"),
        }
    }

    /// How the writer task ended; it starts once something is queued for it.
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<WriterEnd> {
        if let Self::Unstarted(drain) = self {
            std::task::ready!(drain.poll_queued(cx));
        }
        Pin::new(self.start())
            .poll(cx)
            .map(|end| end.unwrap_or(WriterEnd::Broken))
    }
}

/// The reader loop's state: the channel's writer task, and how far the close has come.
struct Reader<'a> {
    rt: &'a Runtime,
    channel: &'a Channel,
    channel_id: u32,
    writer: WriterTask,
    /// How the writer task ended, once it has.
    writer_end: Option<WriterEnd>,
    /// Set when the client's close frame arrived; with the writer done, the handshake is.
    peer_closed: bool,
    /// Set when the client broke the protocol: the connection is failed, and what it sends
    /// after that is read only to find its close frame, never delivered.
    failed: bool,
    /// When a close under way gives up waiting: set once a close is asked for, boxed (an
    /// idle channel has none, and its state stays small).
    expiry: Option<Pin<Box<Sleep>>>,
}

impl<'a> Reader<'a> {
    fn new(rt: &'a Runtime, channel: &'a Channel, channel_id: u32, drain: OutboxDrain) -> Self {
        Self {
            rt,
            channel,
            channel_id,
            writer: WriterTask::Unstarted(drain),
            writer_end: None,
            peer_closed: false,
            failed: false,
            expiry: None,
        }
    }

    /// How long a close may take.
    fn close_timeout(&self) -> Duration {
        self.rt.config.close_timeout
    }

    /// Starts the close deadline, unless it runs already.
    fn start_deadline(&mut self) {
        if self.expiry.is_none() {
            self.set_deadline(Instant::now() + self.close_timeout());
        }
    }

    /// Sets the close deadline, and its timer.
    fn set_deadline(&mut self, at: Instant) {
        match &mut self.expiry {
            Some(sleep) => sleep.as_mut().reset(at),
            None => self.expiry = Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }

    /// The channel's next event, and what to do about it. Frames come first, and the other
    /// events are looked at only when no frame is waiting: they are rare. The socket's reads
    /// spend tokio's cooperative budget, so a client that never pauses still lets the loop
    /// see a close or a shutdown. (A hand-written `select!` with `biased;`: this way the
    /// channel's task keeps no room for the branches' futures while it waits.)
    fn poll_event(&mut self, ws: &mut ChannelSocket, cx: &mut Context<'_>) -> Poll<Next> {
        if let Poll::Ready(frame) = ws.poll_next_unpin(cx) {
            return Poll::Ready(self.on_frame(frame));
        }
        if self.writer_end.is_none() {
            if let Poll::Ready(end) = self.writer.poll_end(cx) {
                return Poll::Ready(self.on_writer_end(end));
            }
        }
        if self.expiry.is_none() && self.channel.outbox.poll_closing(cx).is_ready() {
            return Poll::Ready(self.on_close_asked());
        }
        if poll_expiry(&mut self.expiry, cx).is_ready() {
            return Poll::Ready(Next::Stop);
        }
        Poll::Pending
    }

    /// What the socket gave: a frame for the process, the client's close, an error, or
    /// its end.
    fn on_frame(&mut self, frame: Option<Result<Message, WsError>>) -> Next {
        match frame {
            Some(Ok(Message::Text(_) | Message::Binary(_))) if self.failed => Next::Wait,
            Some(Ok(Message::Text(text))) => {
                self.channel.received.add(1, text.len() as u64);
                let blob = LazyLoadBlob::from_bytes(own_payload(text.into()));
                self.channel.outbox.expect_reply();
                Next::Deliver(WsMessageType::Text, blob)
            }
            Some(Ok(Message::Binary(bytes))) => {
                self.channel.received.add(1, bytes.len() as u64);
                let blob = LazyLoadBlob::from_bytes(own_payload(bytes));
                self.channel.outbox.expect_reply();
                Next::Deliver(WsMessageType::Binary, blob)
            }
            Some(Ok(Message::Close(close))) => {
                self.peer_closed = true;
                // The client's own close frame goes back, as the protocol asks
                // (tungstenite's copy of it is dropped: the writer sends the one).
                self.channel.outbox.close_with(close);
                if self.writer_end.is_some() {
                    return Next::Stop;
                }
                self.start_deadline();
                Next::Wait
            }
            Some(Ok(_)) => Next::Wait,
            Some(Err(error)) => match read_error(error) {
                Some(refusal) if !self.failed => {
                    tracing::debug!(channel_id = self.channel_id, code = refusal.code.as_str(), message = %refusal.message, "failing the connection");
                    self.failed = true;
                    self.channel.outbox.fail(refusal.code, refusal.message);
                    self.start_deadline();
                    Next::Wait
                }
                Some(_) => Next::Wait,
                None => Next::Stop,
            },
            None => Next::Stop,
        }
    }

    /// The writer task ended: after a close it sent, the client's close is awaited.
    fn on_writer_end(&mut self, end: WriterEnd) -> Next {
        self.writer_end = Some(end);
        if end == WriterEnd::Broken || self.peer_closed {
            return Next::Stop;
        }
        self.start_deadline();
        Next::Wait
    }

    /// A close was asked for (by a process, a slow consumer, the node shutting down).
    fn on_close_asked(&mut self) -> Next {
        self.set_deadline(Instant::now() + self.close_timeout());
        Next::Wait
    }

    /// Once the loop is over: closes the channel if the writer still runs, and starts the
    /// close timeout (on the reader's own timer) within which [`Reader::poll_finish`] waits
    /// for the writer to end.
    fn finish(&mut self) {
        if self.writer_end.is_none() {
            self.channel.outbox.close(1000, "");
            self.set_deadline(Instant::now() + self.close_timeout());
        }
    }

    /// After [`Reader::finish`]: ready with how the writer task ended, if it did, once it
    /// has or the close deadline passed (the task is then aborted). A poll function rather
    /// than an `async fn`, whose state the channel's task would keep room for.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Option<WriterEnd>> {
        if self.writer_end.is_none() {
            let task = self.writer.start();
            let end = match Pin::new(&mut *task).poll(cx) {
                Poll::Ready(end) => end.ok(),
                Poll::Pending => {
                    std::task::ready!(poll_expiry(&mut self.expiry, cx));
                    None
                }
            };
            task.abort();
            self.writer_end = end;
        }
        Poll::Ready(self.writer_end)
    }
}

/// Ready once the close deadline passes; never while there is none.
fn poll_expiry(expiry: &mut Option<Pin<Box<Sleep>>>, cx: &mut Context<'_>) -> Poll<()> {
    match expiry {
        Some(sleep) => sleep.as_mut().poll(cx),
        None => Poll::Pending,
    }
}

/// Why every channel closes with 1001 when the node shuts down.
pub const SHUTTING_DOWN: &str = "the node is shutting down";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_close_branch_wakes_once_a_close_is_asked_for() {
        let (outbox, _drain) = outbox(1024, metrics::Histogram::noop());
        let woken = std::sync::Arc::new(Flag::default());
        let waker = std::task::Waker::from(woken.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(outbox.poll_closing(&mut cx).is_pending());
        outbox.fail(WsErrorCode::GoingAway, SHUTTING_DOWN);
        assert!(woken.0.load(std::sync::atomic::Ordering::SeqCst));
        assert!(outbox.poll_closing(&mut cx).is_ready());
    }

    #[derive(Default)]
    struct Flag(std::sync::atomic::AtomicBool);

    impl std::task::Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}
