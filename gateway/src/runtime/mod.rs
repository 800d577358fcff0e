//! `Runtime`: the one state struct of a running node, handed to every module once.
//! It implements [`process_lib::host::Host`], which is how processes and modules send:
//! messages go through [`route`], pushes straight to the channel table (or the net module
//! for another node's channels).
//!
//! - [`route`]: where a `KernelMessage` goes — a mailbox, a module, a peer, or back.

pub mod route;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use process_lib::host::Host;
use process_lib::{
    Address, HttpServerError, KernelMessage, LazyLoadBlob, SendErrorKind, WsMessageType,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Auth;
use crate::config::Config;
use crate::http::bindings::Bindings;
use crate::http::login::LoginGuard;
use crate::http::pending::PendingRequests;
use crate::kernel::table::ProcessTable;
use crate::ws::table::ChannelTable;

/// Everything a node's modules share.
#[derive(Debug)]
pub struct Runtime {
    /// This node's name.
    pub node: process_lib::NodeName,
    /// The settings it was started with.
    pub config: Config,
    /// Mints and verifies this node's tokens.
    pub auth: Auth,
    /// Running processes and their mailboxes.
    pub processes: ProcessTable,
    /// Live WebSocket channels.
    pub channels: ChannelTable,
    /// One permit per open WebSocket connection.
    pub connections: Arc<Semaphore>,
    /// Cancelled when the node shuts down.
    pub shutdown: CancellationToken,
    /// Every task the node spawned, so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// Paths processes bound.
    pub bindings: Bindings,
    /// HTTP requests on bound paths waiting for their processes' answers.
    pub pending: PendingRequests,
    /// Login attempt counting and the password-check gate.
    pub login: LoginGuard,
    /// Links to peer nodes.
    pub net: crate::net::Net,
    next_message_id: AtomicU64,
}

impl Runtime {
    /// A runtime for `config`, signing tokens with `auth`.
    pub fn new(config: Config, auth: Auth) -> Arc<Self> {
        Arc::new(Self {
            node: config.node.as_str().into(),
            net: crate::net::Net::new(config.net.clone()),
            connections: Arc::new(Semaphore::new(config.max_connections)),
            bindings: Bindings::default(),
            pending: PendingRequests::default(),
            login: LoginGuard::new(&config),
            config,
            auth,
            processes: ProcessTable::default(),
            channels: ChannelTable::default(),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            next_message_id: AtomicU64::new(1),
        })
    }

    /// The address of one of this node's processes or modules.
    pub fn address(&self, process: process_lib::ProcessId) -> Address {
        Address {
            node: self.node.clone(),
            process,
        }
    }
}

impl Host for Runtime {
    fn send(&self, message: KernelMessage) -> Result<(), (SendErrorKind, KernelMessage)> {
        route::route(self, message)
    }

    fn ws_push(
        &self,
        source: &Address,
        node: &str,
        channel_id: u32,
        message_type: WsMessageType,
        blob: LazyLoadBlob,
    ) -> Result<(), HttpServerError> {
        if node != self.node {
            return self
                .net
                .push(self, source, node, channel_id, message_type, blob);
        }
        self.channels
            .push(&source.process, channel_id, message_type, blob)
    }

    fn ws_push_many(
        &self,
        source: &Address,
        node: &str,
        channel_ids: &[u32],
        message_type: WsMessageType,
        blob: &LazyLoadBlob,
        more_follows: bool,
    ) -> Vec<(u32, HttpServerError)> {
        let mut failed = Vec::new();
        if node != self.node {
            for &id in channel_ids {
                let pushed = self
                    .net
                    .push(self, source, node, id, message_type, blob.clone());
                if let Err(error) = pushed {
                    failed.push((id, error));
                }
            }
        } else {
            self.channels.push_many(
                &source.process,
                channel_ids,
                message_type,
                blob,
                !more_follows,
                &mut failed,
            );
        }
        failed
    }

    fn next_id(&self) -> u64 {
        self.next_message_id.fetch_add(1, Ordering::Relaxed)
    }

    fn state_dir(&self, process: &process_lib::ProcessId) -> Option<std::path::PathBuf> {
        let dir = crate::home::process_dir(&self.config.home, process);
        // A directory that cannot be made is still the process's directory: the process
        // then fails to use it, loudly, rather than carrying on with no durable state.
        if let Err(error) = std::fs::create_dir_all(&dir) {
            tracing::error!(%error, dir = %dir.display(), "cannot create a process's state directory");
        }
        Some(dir)
    }
}
