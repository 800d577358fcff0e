//! The calls a process author makes, in the shape of Kinode's `process_lib`.

use std::time::Duration;

use crate::address::{validate_node_name, Address, AddressParseError};
use crate::blob::LazyLoadBlob;
use crate::host::{context, with_context, Current};
use crate::http::{HttpServerAction, HttpServerError, WsMessageType};
use crate::message::{KernelMessage, Message, SendError, SendErrorKind, WireMessage};
use crate::process_id::ProcessId;

/// The address of the running process.
#[track_caller]
pub fn our() -> Address {
    with_context(|ctx| ctx.our.clone())
}

/// The blob of the message being handled (the last one `await_message` returned).
#[track_caller]
pub fn get_blob() -> Option<LazyLoadBlob> {
    with_context(|ctx| {
        let current = ctx.current.lock().unwrap_or_else(|e| e.into_inner());
        current.as_ref().and_then(|c| c.blob.clone())
    })
}

/// Waits for the next message. A request this process sent that could not be delivered
/// comes back as `Err(SendError)`. Cancel-safe: dropped before it returns (in a `select!`),
/// it loses no message.
pub async fn await_message() -> Result<Message, SendError> {
    let ctx = context();
    let next = {
        // Uncontended (a process awaits one message at a time) in all but odd programs:
        // taking the lock directly skips the semaphore's waiting machinery.
        let mut inbox = match ctx.inbox.try_lock() {
            Ok(inbox) => inbox,
            Err(_) => ctx.inbox.lock().await,
        };
        match inbox.backlog.pop_front() {
            Some(message) => Some(message),
            None => {
                let mut waited = false;
                let next = std::future::poll_fn(|cx| {
                    let polled = inbox.rx.poll_recv(cx);
                    waited |= polled.is_pending();
                    polled
                })
                .await;
                match next {
                    Some(message) if waited => {
                        // Woken for one message: let the tasks already ready run first, so
                        // the messages they bring (the other channels' frames of the same
                        // burst) are handled in this wake-up rather than one wake-up each.
                        // The message waits in the backlog meanwhile, so a caller that
                        // drops this future (a `select!` whose other branch won) loses
                        // nothing: the next call returns it.
                        inbox.backlog.push_back(message);
                        tokio::task::yield_now().await;
                        inbox.backlog.pop_front()
                    }
                    other => other,
                }
            }
        }
    };
    let Some(km) = next else {
        // The mailbox closed: the runtime is stopping this process.
        return std::future::pending().await;
    };
    accept(&ctx, km)
}

/// Turns a delivered kernel message into what the author sees, remembering it as current.
fn accept(ctx: &crate::host::ProcessContext, km: KernelMessage) -> Result<Message, SendError> {
    let KernelMessage {
        id,
        source,
        rsvp,
        message,
        blob,
        ..
    } = km;
    let reply_to = match &message {
        WireMessage::Request {
            expects_response: Some(_),
            ..
        } => Some(rsvp.unwrap_or_else(|| source.clone())),
        _ => None,
    };
    *ctx.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(Current {
        id,
        reply_to,
        blob: blob.clone(),
    });
    match message {
        WireMessage::Request {
            expects_response,
            body,
        } => Ok(Message::Request {
            source,
            expects_response,
            body,
            blob,
        }),
        WireMessage::Response { body } => Ok(Message::Response { source, body, blob }),
        WireMessage::Bounce { kind, body } => Err(SendError {
            kind,
            target: source,
            body,
            blob,
        }),
    }
}

/// Why a request could not be sent or answered.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// `Request::send` without a target.
    #[error("the request has no target")]
    NoTarget,
    /// The target string is not an address.
    #[error("bad target address: {0}")]
    BadTarget(#[from] AddressParseError),
    /// Not delivered, or not answered in time; carries the unsent message.
    #[error(transparent)]
    Send(#[from] SendError),
    /// `Response::send` while handling no request that waits for an answer.
    #[error("there is no request to respond to")]
    NothingToRespondTo,
}

/// Anything that names a target address: an `Address`, or its string form.
pub trait IntoAddress {
    /// The address, or why the string is not one.
    fn into_address(self) -> Result<Address, AddressParseError>;
}

impl IntoAddress for Address {
    fn into_address(self) -> Result<Address, AddressParseError> {
        Ok(self)
    }
}

impl IntoAddress for &Address {
    fn into_address(self) -> Result<Address, AddressParseError> {
        Ok(self.clone())
    }
}

impl IntoAddress for &str {
    fn into_address(self) -> Result<Address, AddressParseError> {
        self.parse()
    }
}

impl IntoAddress for String {
    fn into_address(self) -> Result<Address, AddressParseError> {
        self.parse()
    }
}

/// A request under construction: `Request::to(addr).body(..).blob(..).send()`.
#[derive(Debug, Default)]
pub struct Request {
    target: Option<Result<Address, AddressParseError>>,
    body: Vec<u8>,
    blob: Option<LazyLoadBlob>,
    expects_response: Option<u64>,
}

impl Request {
    /// An empty request; set its target with [`Request::target`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A request to `target`.
    pub fn to(target: impl IntoAddress) -> Self {
        Self::new().target(target)
    }

    /// Sets the target.
    pub fn target(mut self, target: impl IntoAddress) -> Self {
        self.target = Some(target.into_address());
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the blob.
    pub fn blob(mut self, blob: LazyLoadBlob) -> Self {
        self.blob = Some(blob);
        self
    }

    /// Sets the blob from bytes with no MIME type.
    pub fn blob_bytes(self, bytes: impl Into<bytes::Bytes>) -> Self {
        self.blob(LazyLoadBlob::from_bytes(bytes))
    }

    /// Asks the target to answer within `timeout_secs`; the answer arrives through
    /// `await_message` as a `Message::Response` (or an `Err(SendError)` on timeout).
    pub fn expects_response(mut self, timeout_secs: u64) -> Self {
        self.expects_response = Some(timeout_secs);
        self
    }

    fn build(self, id: u64) -> Result<KernelMessage, RequestError> {
        let target = self.target.ok_or(RequestError::NoTarget)??;
        if validate_node_name(&target.node).is_err() {
            // `Address::new` takes any node, as Kinode's does; a bad one is refused here.
            return Err(RequestError::Send(SendError {
                kind: SendErrorKind::BadNodeName,
                target,
                body: self.body,
                blob: self.blob,
            }));
        }
        Ok(KernelMessage {
            id,
            source: our(),
            target,
            rsvp: None,
            message: WireMessage::Request {
                expects_response: self.expects_response,
                body: self.body,
            },
            blob: self.blob,
        })
    }

    /// Sends the request without waiting. Returns at once.
    #[track_caller]
    pub fn send(self) -> Result<(), RequestError> {
        let ctx = context();
        let km = self.build(ctx.host.next_id())?;
        ctx.host
            .send(km)
            .map_err(|(kind, km)| bounce(kind, km).into())
    }

    /// Sends the request and waits up to `timeout_secs` for its answer. Other messages that
    /// arrive meanwhile wait for the next `await_message`.
    pub async fn send_and_await_response(
        mut self,
        timeout_secs: u64,
    ) -> Result<Message, RequestError> {
        self.expects_response = Some(timeout_secs);
        let ctx = context();
        let id = ctx.host.next_id();
        let km = self.build(id)?;
        let (target, body, blob) = match &km.message {
            WireMessage::Request { body, .. } => (km.target.clone(), body.clone(), km.blob.clone()),
            _ => unreachable!("build makes requests"),
        };
        ctx.host.send(km).map_err(|(kind, km)| bounce(kind, km))?;
        let mut inbox = ctx.inbox.lock().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_secs);
        loop {
            let received = tokio::time::timeout_at(deadline, inbox.rx.recv()).await;
            match received {
                Ok(Some(km))
                    if km.id == id && !matches!(km.message, WireMessage::Request { .. }) =>
                {
                    drop(inbox);
                    return accept(&ctx, km).map_err(Into::into);
                }
                Ok(Some(other)) => inbox.backlog.push_back(other),
                Ok(None) => return std::future::pending().await,
                Err(_) => {
                    return Err(SendError {
                        kind: SendErrorKind::Timeout,
                        target,
                        body,
                        blob,
                    }
                    .into())
                }
            }
        }
    }
}

fn bounce(kind: SendErrorKind, km: KernelMessage) -> SendError {
    let body = match km.message {
        WireMessage::Request { body, .. }
        | WireMessage::Response { body }
        | WireMessage::Bounce { body, .. } => body,
    };
    SendError {
        kind,
        target: km.target,
        body,
        blob: km.blob,
    }
}

/// An answer to the request being handled: `Response::new().body(..).send()`.
#[derive(Debug, Default)]
pub struct Response {
    body: Vec<u8>,
    blob: Option<LazyLoadBlob>,
}

impl Response {
    /// An empty response.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the blob.
    pub fn blob(mut self, blob: LazyLoadBlob) -> Self {
        self.blob = Some(blob);
        self
    }

    /// Sends the response to whoever is waiting for the current request's answer.
    #[track_caller]
    pub fn send(self) -> Result<(), RequestError> {
        let ctx = context();
        let (id, target) = {
            let current = ctx.current.lock().unwrap_or_else(|e| e.into_inner());
            match current.as_ref() {
                Some(Current {
                    id,
                    reply_to: Some(to),
                    ..
                }) => (*id, to.clone()),
                _ => return Err(RequestError::NothingToRespondTo),
            }
        };
        let km = KernelMessage {
            id,
            source: ctx.our.clone(),
            target,
            rsvp: None,
            message: WireMessage::Response { body: self.body },
            blob: self.blob,
        };
        ctx.host
            .send(km)
            .map_err(|(kind, km)| bounce(kind, km).into())
    }
}

/// Pushes a frame to WebSocket channel `channel_id` on `node` (usually `our.node`). The node
/// is any string form of a name: `&our.node`, `our.node.clone()`, a `String` (as Kinode's
/// `send_ws_push(our.node.clone(), …)` passes it) or a `&str`.
///
/// Never blocks. On this node it fails at once with `WsChannelNotFound` when the channel
/// does not exist, `InvalidSourceProcess` when it is bound to another process, and
/// `SlowConsumer` when the client is not keeping up (the channel is then closed).
///
/// To a channel on a peer node the push travels over the link as a `WebSocketPush` request
/// to the peer's http-server; it fails at once with `WsChannelNotFound` when it cannot leave
/// this node (the peer is not linked, or its queue is full). The peer accepts it only if it
/// trusts this node's pushes and the channel is bound to the same `ProcessId` as the sender;
/// to hear its answer, send that request yourself with `Request::send_and_await_response`.
#[track_caller]
pub fn send_ws_push(
    node: impl AsRef<str>,
    channel_id: u32,
    message_type: WsMessageType,
    blob: LazyLoadBlob,
) -> Result<(), HttpServerError> {
    with_context(|ctx| {
        ctx.host
            .ws_push(&ctx.our, node.as_ref(), channel_id, message_type, blob)
    })
}

/// Pushes the same frame to every channel in `channel_ids` on `node`: what
/// [`send_ws_push`] does for each of them, in one call that checks the frame once and shares
/// its payload. Never blocks. Returns the channels the push failed for, each with the error
/// `send_ws_push` would have given; empty when every push went out.
#[track_caller]
pub fn send_ws_push_many(
    node: impl AsRef<str>,
    channel_ids: &[u32],
    message_type: WsMessageType,
    blob: LazyLoadBlob,
) -> Vec<(u32, HttpServerError)> {
    with_context(|ctx| {
        ctx.host
            .ws_push_many(&ctx.our, node.as_ref(), channel_ids, message_type, &blob)
    })
}

/// Pushes the frames `blobs`, in order, to every channel in `channel_ids` on `node`: each
/// client gets each blob as a frame of its own, as if [`send_ws_push_many`] had been called
/// once per blob, but the node encodes the frames once for all the channels and hands each
/// channel the whole run at once (one queue entry, however many frames, written to the
/// client in one write with whatever else waits for it). A process that shows a burst of
/// events to many clients, as a chat room that commits messages in batches does, pays per
/// burst rather than per frame.
///
/// Every frame has the type `message_type` (`Close` closes each channel once). Never
/// blocks. Returns each channel the frames could not all be pushed to, once, with the error
/// [`send_ws_push`] would have given; a channel refused partway gets none of the frames
/// after the one refused, so its client never sees a gap. A frame the node cannot send (a
/// `Text` blob that is not UTF-8, a ping over 125 bytes) is refused for every channel and
/// nothing is pushed on this node. Empty when every push went out.
#[track_caller]
pub fn send_ws_push_frames(
    node: impl AsRef<str>,
    channel_ids: &[u32],
    message_type: WsMessageType,
    blobs: &[LazyLoadBlob],
) -> Vec<(u32, HttpServerError)> {
    with_context(|ctx| {
        ctx.host
            .ws_push_frames(&ctx.our, node.as_ref(), channel_ids, message_type, blobs)
    })
}

/// Closes a channel this process owns on this node.
#[track_caller]
pub fn close_ws_channel(channel_id: u32) -> Result<(), HttpServerError> {
    let ctx = context();
    let node = ctx.our.node.clone();
    ctx.host.ws_push(
        &ctx.our,
        &node,
        channel_id,
        WsMessageType::Close,
        LazyLoadBlob::default(),
    )
}

/// Sends an action to this node's http-server (fire and forget).
#[track_caller]
pub fn http_server_action(
    action: &HttpServerAction,
    blob: Option<LazyLoadBlob>,
) -> Result<(), RequestError> {
    let ctx = context();
    let target = Address {
        node: ctx.our.node.clone(),
        process: crate::http_server_id(),
    };
    let body = serde_json::to_vec(action).unwrap_or_default();
    let mut request = Request::to(target).body(body);
    if let Some(blob) = blob {
        request = request.blob(blob);
    }
    request.send()
}

/// The directory where this process keeps what must survive a restart of the process or
/// of the node (`<home>/processes/<id>/` on a Switchboard node), created if missing.
/// `None` when the host keeps no state on disk.
#[track_caller]
pub fn state_dir() -> Option<std::path::PathBuf> {
    let ctx = context();
    ctx.host.state_dir(&ctx.our.process)
}

/// The id of the process at `our()`.
#[track_caller]
pub fn our_process() -> ProcessId {
    context().our.process.clone()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::{mpsc, Notify};

    use super::*;
    use crate::host::{run_process, Host, ProcessContext};

    /// A host that routes nothing: these tests only read the mailbox.
    struct NoRoutes;

    impl Host for NoRoutes {
        fn send(&self, message: KernelMessage) -> Result<(), (SendErrorKind, KernelMessage)> {
            Err((SendErrorKind::Offline, message))
        }

        fn ws_push(
            &self,
            _: &Address,
            _: &str,
            _: u32,
            _: WsMessageType,
            _: LazyLoadBlob,
        ) -> Result<(), HttpServerError> {
            Err(HttpServerError::WsChannelNotFound)
        }

        fn next_id(&self) -> u64 {
            0
        }
    }

    fn numbered(id: u64, to: &Address) -> KernelMessage {
        KernelMessage {
            id,
            source: to.clone(),
            target: to.clone(),
            rsvp: None,
            message: WireMessage::Request {
                expects_response: None,
                body: id.to_string().into_bytes(),
            },
            blob: None,
        }
    }

    #[tokio::test]
    async fn a_bad_node_name_is_refused_when_sent_with_the_message_back() {
        let our: Address = "our.os@test:test:sys".parse().expect("address");
        let (_mailbox, inbox) = mpsc::channel(1);
        let context = Arc::new(ProcessContext::new(our, inbox, Arc::new(NoRoutes)));
        let target = Address::new("Our_Node", crate::http_server_id());
        let sent = run_process(context, async move {
            Request::new().target(target).body(b"hi".to_vec()).send()
        })
        .await;
        let Err(RequestError::Send(error)) = sent else {
            panic!("expected a send error, got {sent:?}");
        };
        assert_eq!(error.kind, SendErrorKind::BadNodeName);
        assert_eq!(error.body, b"hi");
        assert_eq!(
            error.to_string(),
            "message to Our_Node@http-server:distro:sys not delivered: BadNodeName \
             (a node name has only a-z, 0-9, `-` and `.`)"
        );
    }

    #[tokio::test]
    async fn a_select_whose_other_branch_wins_loses_no_message() {
        const MESSAGES: u64 = 200;
        let our: Address = "our.os@test:test:sys".parse().expect("address");
        let (mailbox, inbox) = mpsc::channel(8);
        let context = Arc::new(ProcessContext::new(our.clone(), inbox, Arc::new(NoRoutes)));
        // Every message comes with a wake-up of the select's other branch, so that branch
        // is often ready on the very poll in which `await_message` takes the message.
        let other = Arc::new(Notify::new());
        let process = {
            let other = other.clone();
            run_process(context, async move {
                let mut seen = Vec::new();
                let mut other_won = 0;
                while seen.len() < MESSAGES as usize {
                    tokio::select! {
                        biased;
                        message = await_message() => match message {
                            Ok(Message::Request { body, .. }) => seen.push(body),
                            other => panic!("unexpected {other:?}"),
                        },
                        () = other.notified() => other_won += 1,
                    }
                }
                (seen, other_won)
            })
        };
        let process = tokio::spawn(process);
        for id in 0..MESSAGES {
            mailbox
                .send(numbered(id, &our))
                .await
                .expect("mailbox open");
            other.notify_one();
            if id % 3 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let (seen, other_won) = tokio::time::timeout(std::time::Duration::from_secs(10), process)
            .await
            .expect("every message arrives within 10 s")
            .expect("the process did not panic");
        let expected: Vec<Vec<u8>> = (0..MESSAGES)
            .map(|id| id.to_string().into_bytes())
            .collect();
        assert_eq!(seen, expected, "every message, once, in order");
        assert!(other_won > 0, "the other branch won some selects");
    }
}
