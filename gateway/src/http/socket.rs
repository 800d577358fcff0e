//! One WebSocket's life: admission, the register flow, then a reader loop (this task) and a
//! writer task, until either side ends; then the channel is removed and its process told.

use std::future::{poll_fn, Future};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use process_lib::{
    http_server_id, HttpServerRequest, KernelMessage, LazyLoadBlob, ProcessId, WireMessage,
    WsErrorCode, WsMessageType, WsRegistered,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tracing::Instrument;

use super::channels::Channel;
use super::outbound::{writer_queue, Replies};
use super::refusal::Refusal;
use super::register::{await_register, read_error, NotRegistered};
use super::upgrade::WsStream;
use super::writer::{self, WriterEnd};
use super::ConnInfo;
use crate::runtime::Runtime;
use process_lib::host::Host;

/// Serves a socket that connected to `/`: admission, register frame, then the channel.
/// `cookie_token` is the upgrade request's login cookie, used when the frame's token is empty.
pub fn serve_register_flow(
    rt: Arc<Runtime>,
    ws: WsStream,
    conn: Option<ConnInfo>,
    cookie_token: Option<String>,
) -> impl Future<Output = ()> {
    // Boxed: the future lives as long as the connection, and an argument stays in it for
    // good, so it holds a pointer rather than the whole socket it has already handed on.
    register_flow(rt, Box::new(ws), conn, cookie_token)
}

async fn register_flow(
    rt: Arc<Runtime>,
    mut ws: Box<WsStream>,
    conn: Option<ConnInfo>,
    cookie_token: Option<String>,
) {
    let Ok(_permit) = rt.connections.clone().try_acquire_owned() else {
        let refusal = Refusal::new(
            WsErrorCode::OverCapacity,
            "this node holds as many connections as it allows; try again later",
        );
        return Box::pin(refuse(&rt, unbox(ws), refusal)).await;
    };
    let tls = conn.is_some_and(|c| c.tls);
    // Each phase is boxed so the connection's task is sized for none of them: an idle
    // channel then holds only the channel phase's state.
    match Box::pin(await_register(&rt, &mut ws, tls, cookie_token.as_deref())).await {
        Ok(registration) => {
            let open = OpenChannel {
                process: registration.process,
                path: "/".to_owned(),
                mailbox: registration.mailbox,
                announce: true,
            };
            Box::pin(run_channel(rt, unbox(ws), open)).await;
        }
        Err(NotRegistered::Refused(refusal)) => Box::pin(refuse(&rt, unbox(ws), refusal)).await,
        Err(NotRegistered::Gone) => {}
    }
}

/// Takes the socket out of its box and frees the box now (`*ws` would keep the allocation
/// until the binding's scope ends, which is the connection's end).
fn unbox(ws: Box<WsStream>) -> WsStream {
    *ws
}

/// Tells the client why (unless it broke the protocol, which gets the close frame alone),
/// closes with the matching code, and waits (bounded) for its close.
pub async fn refuse(rt: &Runtime, mut ws: WsStream, refusal: Refusal) {
    tracing::debug!(code = refusal.code.as_str(), message = %refusal.message, "refusing socket");
    let close = async {
        if !refusal.code.is_protocol_failure() {
            ws.feed(refusal.error_frame()).await?;
        }
        ws.send(refusal.close_frame()).await?;
        while let Some(Ok(_)) = ws.next().await {}
        Ok::<_, tokio_tungstenite::tungstenite::Error>(())
    };
    let _ = tokio::time::timeout(rt.config.close_timeout, close).await;
}

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
    let (writer, drain) = writer_queue(rt.config.writer_queue_bytes);
    let (channel_id, channel) = rt.channels.insert(Channel {
        process: open.process.clone(),
        path: open.path.clone(),
        writer,
    });
    let span = tracing::debug_span!("channel", channel_id, process = %open.process);
    let write_half = ws
        .get_mut()
        .get_mut()
        .split_writer(Replies::new(channel.clone()));
    async move {
        let Some(write_half) = write_half else {
            // Only a socket that already ran as a channel is split; none comes here.
            rt.channels.remove(channel_id);
            return;
        };
        if open.announce {
            let reply = serde_json::to_string(&WsRegistered { channel_id }).unwrap_or_default();
            let _ = channel.writer.send(Message::text(reply));
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
        // Set when the client broke the protocol: the connection is failed, and what it
        // sends after that is read only to find its close frame, never delivered.
        let mut failed = false;
        // A node shutting down fails every channel (`ChannelTable::fail_all`), which the
        // close branch sees; a channel that opened as the node began to shut down fails here.
        if rt.shutdown.is_cancelled() {
            channel.writer.fail(WsErrorCode::GoingAway, SHUTTING_DOWN);
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
                    Some(Ok(Message::Text(_) | Message::Binary(_))) if failed => {}
                    Some(Ok(Message::Text(text))) => {
                        let blob = LazyLoadBlob::from_bytes(detach(text.into()));
                        channel.writer.expect_reply();
                        courier.push(channel_id, WsMessageType::Text, blob).await;
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        let blob = LazyLoadBlob::from_bytes(detach(bytes));
                        channel.writer.expect_reply();
                        courier.push(channel_id, WsMessageType::Binary, blob).await;
                    }
                    Some(Ok(Message::Close(close))) => {
                        peer_closed = true;
                        // The client's own close frame goes back, as the protocol asks
                        // (tungstenite's copy of it is dropped: the writer sends the one).
                        channel.writer.close_with(close);
                        if writer_end.is_some() {
                            break;
                        }
                        deadline.get_or_insert_with(|| Instant::now() + close_timeout);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => match read_error(error) {
                        Some(refusal) if !failed => {
                            tracing::debug!(code = refusal.code.as_str(), message = %refusal.message, "failing the connection");
                            failed = true;
                            channel.writer.fail(refusal.code, refusal.message);
                            deadline.get_or_insert_with(|| Instant::now() + close_timeout);
                        }
                        Some(_) => {}
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
                () = poll_fn(|cx| channel.writer.poll_closing(cx)), if deadline.is_none() => {
                    deadline = Some(Instant::now() + close_timeout);
                }
                () = expiry => break,
            }
        }

        rt.channels.remove(channel_id);
        if writer_end.is_none() {
            channel.writer.close(1000, "");
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

/// A frame's payload as the process gets it: a small one is copied into storage of its
/// own, so it does not keep tungstenite's read buffer shared while the process holds it.
///
/// A payload fresh from the socket shares the read buffer's storage. When the reader then
/// asks that buffer for room for the next frame while the storage is still shared, the
/// buffer cannot reuse it and allocates anew, and under 1 KiB it allocates only the few
/// bytes asked for, so every later frame takes two allocations and two short reads. Freed
/// at once, the storage stays the buffer's own and is reused. The copy lives inline in the
/// one allocation that also holds its reference count, so sharing it later (the process
/// library keeps the current message's payload) allocates nothing more.
fn detach(payload: bytes::Bytes) -> bytes::Bytes {
    match payload.len() {
        0..=64 => Inline::<64>::copy(&payload),
        65..=128 => Inline::<128>::copy(&payload),
        129..=256 => Inline::<256>::copy(&payload),
        257..=512 => Inline::<512>::copy(&payload),
        _ => payload,
    }
}

/// A small payload's bytes, held inline.
struct Inline<const N: usize> {
    len: usize,
    bytes: [u8; N],
}

impl<const N: usize> Inline<N> {
    /// `payload` (at most `N` bytes) in shared storage of its own.
    fn copy(payload: &[u8]) -> bytes::Bytes {
        let mut inline = Self {
            len: payload.len(),
            bytes: [0; N],
        };
        inline.bytes[..payload.len()].copy_from_slice(payload);
        bytes::Bytes::from_owner(inline)
    }
}

impl<const N: usize> AsRef<[u8]> for Inline<N> {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Carries a channel's events to its process's mailbox, waiting when the mailbox is full so
/// a fast client is slowed down, not dropped.
struct Courier<'a> {
    rt: &'a Runtime,
    mailbox: &'a mpsc::Sender<KernelMessage>,
    process: &'a ProcessId,
}

impl<'a> Courier<'a> {
    fn new(rt: &'a Runtime, open: &'a OpenChannel) -> Self {
        // Addresses are built per message (each message needs its own copy anyway), so an
        // idle channel keeps none.
        Self {
            rt,
            mailbox: &open.mailbox,
            process: &open.process,
        }
    }

    fn push(
        &self,
        channel_id: u32,
        message_type: WsMessageType,
        blob: LazyLoadBlob,
    ) -> impl Future<Output = ()> + '_ {
        let request = HttpServerRequest::WebSocketPush {
            channel_id,
            message_type,
        };
        self.deliver(request, Some(blob))
    }

    /// Delivers at once when the mailbox has room, as it almost always does; only a full
    /// mailbox leaves something to wait for, boxed. The returned future is a few bytes, so
    /// it does not swell the state every channel's task holds while idle.
    fn deliver(
        &self,
        request: HttpServerRequest,
        blob: Option<LazyLoadBlob>,
    ) -> impl Future<Output = ()> + '_ {
        let message = KernelMessage {
            id: self.rt.next_id(),
            source: self.rt.address(http_server_id()),
            target: self.rt.address(self.process.clone()),
            rsvp: None,
            message: WireMessage::Request {
                expects_response: None,
                body: request.to_json(),
            },
            blob,
        };
        let waiting = match self.mailbox.try_send(message) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(message)) => {
                Some(Box::pin(self.mailbox.send(message)))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                mailbox_closed();
                None
            }
        };
        async move {
            if let Some(send) = waiting {
                if send.await.is_err() {
                    mailbox_closed();
                }
            }
        }
    }
}

fn mailbox_closed() {
    tracing::debug!("process mailbox closed; event dropped with the dead instance");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_payload_is_copied_and_a_large_one_shared() {
        for len in [0, 1, 64, 65, 128, 129, 256, 257, 512] {
            let original = bytes::Bytes::from((0..len).map(|i| i as u8).collect::<Vec<u8>>());
            let detached = detach(original.clone());
            assert_eq!(detached, original, "{len} bytes");
            if len > 0 {
                assert_ne!(detached.as_ptr(), original.as_ptr(), "{len} bytes");
            }
            // Sharing the copy keeps the same bytes.
            assert_eq!(detached.clone().as_ptr(), detached.as_ptr());
        }
        let large = bytes::Bytes::from(vec![7u8; 513]);
        assert_eq!(detach(large.clone()).as_ptr(), large.as_ptr());
    }

    #[test]
    fn the_close_branch_wakes_once_a_close_is_asked_for() {
        let (writer, _drain) = writer_queue(1024);
        let woken = std::sync::Arc::new(Flag::default());
        let waker = std::task::Waker::from(woken.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(writer.poll_closing(&mut cx).is_pending());
        writer.fail(WsErrorCode::GoingAway, SHUTTING_DOWN);
        assert!(woken.0.load(std::sync::atomic::Ordering::SeqCst));
        assert!(writer.poll_closing(&mut cx).is_ready());
    }

    #[derive(Default)]
    struct Flag(std::sync::atomic::AtomicBool);

    impl std::task::Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}
