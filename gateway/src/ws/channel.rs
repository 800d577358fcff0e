//! One channel's life, once admitted: a reader loop (this task) that hands each client
//! frame to the process's mailbox, and a writer task that owns the socket's write half,
//! until either side ends; then the channel is removed and its process told.

use std::future::{poll_fn, Future};
use std::sync::Arc;

use futures_util::StreamExt;
use process_lib::{
    HttpServerRequest, KernelMessage, LazyLoadBlob, ProcessId, WsErrorCode, WsMessageType,
    WsRegistered,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tracing::Instrument;

use super::courier::Courier;
use super::lazy_read::own_payload;
use super::outbound::outbox;
use super::outbound::writer::{self, WriterEnd};
use super::register::read_error;
use super::table::Channel;
use super::upgrade::WsStream;
use crate::runtime::Runtime;

/// A channel about to open.
#[derive(Debug)]
pub struct OpenChannel {
    /// The process it is bound to.
    pub process: ProcessId,
    /// The path the client connected to.
    pub path: String,
    /// That process's mailbox.
    pub mailbox: mpsc::Sender<KernelMessage>,
    /// Whether to send the client `{"channel_id":N}` first (the register flow does).
    pub announce: bool,
}

/// Runs an open channel until it ends: this task reads, and a writer task of its own owns
/// the socket's write half.
pub fn run_channel(
    rt: Arc<Runtime>,
    mut ws: WsStream,
    open: OpenChannel,
) -> impl Future<Output = ()> {
    let (outbox, drain) = outbox(rt.config.writer_queue_bytes);
    let replies = outbox.replies();
    let (channel_id, channel) = rt.channels.insert(Channel {
        process: open.process.clone(),
        path: open.path.clone(),
        outbox,
    });
    let span = tracing::debug_span!("channel", channel_id, process = %open.process);
    let write_half = ws.get_mut().get_mut().split_writer(replies);
    async move {
        let Some(write_half) = write_half else {
            // Only a socket that already ran as a channel is split; none comes here.
            rt.channels.remove(channel_id);
            return;
        };
        if open.announce {
            let reply = serde_json::to_string(&WsRegistered { channel_id }).unwrap_or_default();
            let _ = channel.outbox.send(Message::text(reply));
        }
        let mut writer_task = tokio::spawn(writer::run(write_half, drain));
        let courier = Courier::new(&rt, &open);
        courier
            .deliver(
                HttpServerRequest::WebSocketOpen {
                    path: open.path.clone(),
                    channel_id,
                },
                None,
            )
            .await;
        tracing::debug!("channel open");

        let close_timeout = rt.config.close_timeout;
        let mut deadline: Option<Instant> = None;
        let mut writer_end: Option<WriterEnd> = None;
        // Set when the client's close frame arrived; with the writer done, the handshake is.
        let mut peer_closed = false;
        // A node shutting down fails every channel (`ChannelTable::fail_all`), which the
        // close branch sees; a channel that opened as the node began to shut down fails here.
        if rt.shutdown.is_cancelled() {
            channel.outbox.fail(WsErrorCode::GoingAway, SHUTTING_DOWN);
        }
        loop {
            let expiry = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            // Frames first, and the other branches polled only when none is waiting: they
            // are rare, and a select that starts at a random branch polls some of them for
            // every frame. The socket's reads spend tokio's cooperative budget, so a client
            // that never pauses still lets the loop see a close or a shutdown.
            tokio::select! {
                biased;
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let blob = LazyLoadBlob::from_bytes(own_payload(text.into()));
                        channel.outbox.expect_reply();
                        courier.push(channel_id, WsMessageType::Text, blob).await;
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        let blob = LazyLoadBlob::from_bytes(own_payload(bytes));
                        channel.outbox.expect_reply();
                        courier.push(channel_id, WsMessageType::Binary, blob).await;
                    }
                    Some(Ok(Message::Close(close))) => {
                        peer_closed = true;
                        // The client's own close frame goes back, as the protocol asks
                        // (tungstenite's copy of it is dropped: the writer sends the one).
                        channel.outbox.close_with(close);
                        if writer_end.is_some() {
                            break;
                        }
                        deadline.get_or_insert_with(|| Instant::now() + close_timeout);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => match read_error(error) {
                        Some(refusal) => {
                            channel.outbox.fail(refusal.code, refusal.message);
                            deadline.get_or_insert_with(|| Instant::now() + close_timeout);
                        }
                        None => break,
                    },
                    None => break,
                },
                end = &mut writer_task, if writer_end.is_none() => {
                    let end = end.unwrap_or(WriterEnd::Broken);
                    writer_end = Some(end);
                    if end == WriterEnd::Broken || peer_closed {
                        break;
                    }
                    deadline.get_or_insert_with(|| Instant::now() + close_timeout);
                }
                () = poll_fn(|cx| channel.outbox.poll_closing(cx)), if deadline.is_none() => {
                    deadline = Some(Instant::now() + close_timeout);
                }
                () = expiry => break,
            }
        }

        rt.channels.remove(channel_id);
        if writer_end.is_none() {
            channel.outbox.close(1000, "");
            writer_end = tokio::time::timeout(close_timeout, &mut writer_task)
                .await
                .ok()
                .and_then(Result::ok);
            writer_task.abort();
        }
        tracing::debug!(?writer_end, "channel closed");
        // A restarted process never saw this channel: it is not told of its close.
        if writer_end != Some(WriterEnd::Failed(WsErrorCode::ProcessRestarted)) {
            courier
                .deliver(HttpServerRequest::WebSocketClose(channel_id), None)
                .await;
        }
    }
    .instrument(span)
}

/// Why every channel closes with 1001 when the node shuts down.
pub const SHUTTING_DOWN: &str = "the node is shutting down";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_close_branch_wakes_once_a_close_is_asked_for() {
        let (outbox, _drain) = outbox(1024);
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
