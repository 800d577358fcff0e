//! The seam between a process and the runtime that hosts it.
//!
//! A runtime (the Switchboard gateway, or a test harness) implements [`Host`] and runs each
//! process future inside [`run_process`], which installs the per-task context that the
//! author's API (`await_message`, `send_ws_push`, …) reads.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::address::Address;
use crate::blob::LazyLoadBlob;
use crate::http::{HttpServerError, WsMessageType};
use crate::message::KernelMessage;
use crate::siblings::{HostFuture, SiblingError, SiblingReply};

/// What a runtime offers the processes it hosts. Every method returns at once.
pub trait Host: Send + Sync + 'static {
    /// Routes a message. On failure the message comes back, with the reason.
    fn send(&self, message: KernelMessage) -> Result<(), (crate::SendErrorKind, KernelMessage)>;

    /// Pushes a frame to a WebSocket channel on `node`, on behalf of `source`.
    fn ws_push(
        &self,
        source: &Address,
        node: &str,
        channel_id: u32,
        message_type: WsMessageType,
        blob: LazyLoadBlob,
    ) -> Result<(), HttpServerError>;

    /// Pushes one frame to several channels on `node`, on behalf of `source`; returns the
    /// channels it could not push to, with why. A runtime can check the frame once for all.
    fn ws_push_many(
        &self,
        source: &Address,
        node: &str,
        channel_ids: &[u32],
        message_type: WsMessageType,
        blob: &LazyLoadBlob,
    ) -> Vec<(u32, HttpServerError)> {
        channel_ids
            .iter()
            .filter_map(|&id| {
                self.ws_push(source, node, id, message_type, blob.clone())
                    .err()
                    .map(|error| (id, error))
            })
            .collect()
    }

    /// Pushes several frames, in order, to each of several channels on `node`, on behalf of
    /// `source`; returns each channel it could not push every frame to, once, with the first
    /// error. A runtime can encode the frames once for all the channels and queue them as
    /// one; this default pushes them one at a time.
    fn ws_push_frames(
        &self,
        source: &Address,
        node: &str,
        channel_ids: &[u32],
        message_type: WsMessageType,
        blobs: &[LazyLoadBlob],
    ) -> Vec<(u32, HttpServerError)> {
        push_frames_one_by_one(self, source, node, channel_ids, message_type, blobs)
    }

    /// A fresh message id.
    fn next_id(&self) -> u64;

    /// The directory where `process` keeps what must survive restarts, created if missing
    /// (when it cannot be, the process finds out on first use); `None` when this host keeps
    /// no state on disk.
    fn state_dir(&self, process: &crate::ProcessId) -> Option<std::path::PathBuf> {
        let _ = process;
        None
    }

    /// The instances of this node, other than this one, that are live now; empty when the
    /// node is not clustered.
    fn siblings(&self, process: &crate::ProcessId) -> Vec<u8> {
        let _ = process;
        Vec::new()
    }

    /// Sends a request from `source` to the same process on `instance`, answered within
    /// `timeout`.
    fn sibling_request(
        &self,
        source: &Address,
        instance: u8,
        body: Vec<u8>,
        blob: Option<LazyLoadBlob>,
        timeout: std::time::Duration,
    ) -> HostFuture<Result<SiblingReply, SiblingError>> {
        let _ = (source, instance, body, blob, timeout);
        Box::pin(async { Err(SiblingError::NotClustered) })
    }

    /// Sends a message from `source` to the same process on every other live instance;
    /// returns how many it was sent to.
    fn sibling_publish(
        &self,
        source: &Address,
        body: Vec<u8>,
        blob: Option<LazyLoadBlob>,
    ) -> usize {
        let _ = (source, body, blob);
        0
    }

    /// The log `name` of `process`, shared by the node's instances; `None` unclustered.
    fn shared_log(
        &self,
        process: &crate::ProcessId,
        name: &str,
    ) -> Option<crate::shared::SharedLog> {
        let _ = (process, name);
        None
    }

    /// The map `name` of `process`, shared by the node's instances, whose entries live
    /// `ttl` past their last write; `None` unclustered.
    fn shared_map(
        &self,
        process: &crate::ProcessId,
        name: &str,
        ttl: std::time::Duration,
    ) -> Option<crate::shared::SharedMap> {
        let _ = (process, name, ttl);
        None
    }
}

/// [`Host::ws_push_frames`] done with one [`Host::ws_push_many`] per frame: each channel
/// gets the frames in order, and a channel refused one frame gets none of the later ones
/// (its client would otherwise see a gap). Each refused channel is named once.
pub fn push_frames_one_by_one<H: Host + ?Sized>(
    host: &H,
    source: &Address,
    node: &str,
    channel_ids: &[u32],
    message_type: WsMessageType,
    blobs: &[LazyLoadBlob],
) -> Vec<(u32, HttpServerError)> {
    let mut failed: Vec<(u32, HttpServerError)> = Vec::new();
    let mut going: Vec<u32> = channel_ids.to_vec();
    for blob in blobs {
        if going.is_empty() {
            break;
        }
        // More frames follow, or the caller's next push may: the writers gather them.
        let refused = host.ws_push_many(source, node, &going, message_type, blob);
        if !refused.is_empty() {
            going.retain(|id| !refused.iter().any(|(r, _)| r == id));
            failed.extend(refused);
        }
    }
    failed
}

/// The message being handled, kept for `get_blob()` and `Response::send()`.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub id: u64,
    pub reply_to: Option<Address>,
    pub blob: Option<LazyLoadBlob>,
}

pub(crate) struct Inbox {
    pub rx: mpsc::Receiver<KernelMessage>,
    /// Messages that arrived while the process waited for a particular response, and the
    /// one a wake-up has taken but not yet handed over (`await_message`).
    pub backlog: VecDeque<KernelMessage>,
}

/// Everything one running process instance owns: its address, mailbox and host.
pub struct ProcessContext {
    pub(crate) our: Address,
    pub(crate) host: Arc<dyn Host>,
    pub(crate) inbox: tokio::sync::Mutex<Inbox>,
    pub(crate) current: Mutex<Option<Current>>,
}

impl std::fmt::Debug for ProcessContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessContext")
            .field("our", &self.our)
            .finish()
    }
}

impl ProcessContext {
    /// A context for the process at `our`, reading `mailbox`, hosted by `host`.
    pub fn new(our: Address, mailbox: mpsc::Receiver<KernelMessage>, host: Arc<dyn Host>) -> Self {
        Self {
            our,
            host,
            inbox: tokio::sync::Mutex::new(Inbox {
                rx: mailbox,
                backlog: VecDeque::new(),
            }),
            current: Mutex::new(None),
        }
    }
}

tokio::task_local! {
    pub(crate) static CONTEXT: Arc<ProcessContext>;
}

/// Runs `process` with `context` installed, so the author's API works inside it.
pub async fn run_process<F: Future>(context: Arc<ProcessContext>, process: F) -> F::Output {
    CONTEXT.scope(context, process).await
}

/// Spawns a task that shares the current process's context (its mailbox, address and
/// host), so `send_ws_push` and `Request` work inside it. Outside a process it panics.
///
/// The context is a tokio task-local, which a plain `tokio::spawn` does not carry into the
/// new task (tokio has no hook to pass it on): a process's own tasks are started with this.
#[track_caller]
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let context = context();
    tokio::spawn(CONTEXT.scope(context, future))
}

/// What a call of the author's API outside any process's task is told.
const OUTSIDE_A_PROCESS: &str = "process_lib was called outside a process's task. A task \
    started with `tokio::spawn` does not carry the process's context (its address, mailbox \
    and host); start the process's own tasks with `process_lib::spawn` instead";

/// Runs `f` with the context of the process this task belongs to, without taking a
/// reference of its own (the calls made once per message use this).
#[track_caller]
pub(crate) fn with_context<R>(f: impl FnOnce(&ProcessContext) -> R) -> R {
    match CONTEXT.try_with(|ctx| f(ctx)) {
        Ok(result) => result,
        Err(_) => panic!("{OUTSIDE_A_PROCESS}"),
    }
}

/// The context of the process this task belongs to.
#[track_caller]
pub(crate) fn context() -> Arc<ProcessContext> {
    match CONTEXT.try_with(Arc::clone) {
        Ok(context) => context,
        Err(_) => panic!("{OUTSIDE_A_PROCESS}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::SendErrorKind;

    /// A host that does nothing: these tests only look at the context.
    struct Nowhere;

    impl Host for Nowhere {
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

    /// A host that records pushes and refuses channel 2 everything after its first frame.
    #[derive(Default)]
    struct Recording(Mutex<Vec<(u32, String)>>);

    impl Host for Recording {
        fn send(&self, message: KernelMessage) -> Result<(), (SendErrorKind, KernelMessage)> {
            Err((SendErrorKind::Offline, message))
        }

        fn ws_push(
            &self,
            _: &Address,
            _: &str,
            channel_id: u32,
            _: WsMessageType,
            blob: LazyLoadBlob,
        ) -> Result<(), HttpServerError> {
            let mut pushed = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if channel_id == 2 && pushed.iter().any(|(id, _)| *id == 2) {
                return Err(HttpServerError::SlowConsumer);
            }
            let text = String::from_utf8_lossy(&blob.bytes).into_owned();
            pushed.push((channel_id, text));
            Ok(())
        }

        fn next_id(&self) -> u64 {
            0
        }
    }

    #[test]
    fn frames_pushed_one_by_one_keep_their_order_and_leave_no_gaps() {
        let host = Recording::default();
        let our: Address = "our.os@test:test:sys".parse().expect("address");
        let blobs: Vec<LazyLoadBlob> = ["a", "b", "c"]
            .into_iter()
            .map(LazyLoadBlob::from_bytes)
            .collect();
        let failed = host.ws_push_frames(&our, "our.os", &[1, 2, 3], WsMessageType::Text, &blobs);
        assert_eq!(failed, vec![(2, HttpServerError::SlowConsumer)]);
        let pushed = host.0.into_inner().unwrap_or_else(|e| e.into_inner());
        let to = |channel: u32| -> Vec<&str> {
            pushed
                .iter()
                .filter(|(id, _)| *id == channel)
                .map(|(_, text)| text.as_str())
                .collect()
        };
        assert_eq!(to(1), ["a", "b", "c"]);
        // Refused "b", so never given "c" either.
        assert_eq!(to(2), ["a"]);
        assert_eq!(to(3), ["a", "b", "c"]);
    }

    fn context_at(our: &str) -> Arc<ProcessContext> {
        let our: Address = our.parse().expect("address");
        let (_mailbox, inbox) = mpsc::channel(1);
        Arc::new(ProcessContext::new(our, inbox, Arc::new(Nowhere)))
    }

    #[tokio::test]
    async fn a_plain_tokio_spawn_is_told_to_use_process_lib_spawn() {
        let outcome = run_process(context_at("our.os@test:test:sys"), async {
            tokio::spawn(async { crate::our() }).await
        })
        .await;
        let panic = outcome.expect_err("the call outside the context panics");
        let message = panic.into_panic();
        let message = message
            .downcast_ref::<String>()
            .expect("the panic carries a sentence");
        assert!(
            message.contains("does not carry the process's context")
                && message.contains("`process_lib::spawn`"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn process_lib_spawn_carries_the_context() {
        let our = run_process(context_at("our.os@test:test:sys"), async {
            spawn(async { spawn(async { crate::our() }).await }).await
        })
        .await
        .expect("the task ran")
        .expect("the nested task ran");
        assert_eq!(our.to_string(), "our.os@test:test:sys");
    }
}
