//! `Runtime`: the one state struct of a running node, handed to every module once.
//! It implements [`process_lib::host::Host`], which is how processes and modules send:
//! messages go through [`route`], pushes straight to the channel table (or the net module
//! for another node's channels, the cluster for another instance's).
//!
//! - [`route`]: where a `KernelMessage` goes — a mailbox, a module, a peer, or back.

pub mod route;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use process_lib::host::Host;
use process_lib::shared::{SharedLog, SharedMap};
use process_lib::siblings::{HostFuture, SiblingError, SiblingReply};
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
    /// The per-address connection limits, and what every limit refused.
    pub limits: crate::ws::limits::ConnectionLimits,
    /// Cancelled when a drain begins: the listener stops, the node is no longer ready, and
    /// channels are being closed in batches. `shutdown` follows when the drain ends, and
    /// implies it (a node shut down without a drain is draining too).
    pub draining: CancellationToken,
    /// Cancelled when the node shuts down.
    pub shutdown: CancellationToken,
    /// What the node counts about itself (`/metrics`, `/status`).
    pub telemetry: crate::telemetry::Telemetry,
    /// Every task the node spawned, so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// One token per open channel, held until its process has been sent its close: a
    /// drain waits for them.
    pub channel_tasks: TaskTracker,
    /// Paths processes bound.
    pub bindings: Bindings,
    /// HTTP requests on bound paths waiting for their processes' answers.
    pub pending: PendingRequests,
    /// Login attempt counting and the password-check gate.
    pub login: LoginGuard,
    /// Links to peer nodes.
    pub net: crate::net::Net,
    /// The other instances of this node, when it runs as several.
    pub cluster: Option<crate::cluster::Cluster>,
    /// What the process socket counts.
    pub outside: crate::process_socket::Counters,
    next_message_id: AtomicU64,
}

impl Runtime {
    /// A runtime for `config`, signing tokens with `auth`.
    pub fn new(config: Config, auth: Auth) -> Arc<Self> {
        Self::with_cluster(config, auth, None)
    }

    /// A runtime for `config` that is one instance of a clustered node.
    pub fn with_cluster(
        config: Config,
        auth: Auth,
        cluster: Option<crate::cluster::Cluster>,
    ) -> Arc<Self> {
        let instance = cluster.as_ref().map_or(0, |c| c.instance());
        let shutdown = CancellationToken::new();
        Arc::new(Self {
            node: config.node.as_str().into(),
            net: crate::net::Net::new(config.net.clone()),
            connections: Arc::new(Semaphore::new(config.max_connections)),
            limits: crate::ws::limits::ConnectionLimits::new(&config),
            bindings: Bindings::default(),
            pending: PendingRequests::default(),
            login: LoginGuard::new(&config),
            telemetry: crate::telemetry::Telemetry::new(config.metrics_bind.is_some()),
            outside: Default::default(),
            config,
            auth,
            processes: ProcessTable::default(),
            channels: ChannelTable::for_instance(instance),
            cluster,
            draining: shutdown.child_token(),
            shutdown,
            tasks: TaskTracker::new(),
            channel_tasks: TaskTracker::new(),
            next_message_id: AtomicU64::new(1),
        })
    }

    /// Whether the node has begun to drain or shut down (it answers `/ready` with 503 from
    /// then on); `draining` is a child of `shutdown`, so a shutdown sets it too.
    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    /// WebSocket connections held now (admitted or being admitted).
    pub fn open_connections(&self) -> usize {
        self.config
            .max_connections
            .saturating_sub(self.connections.available_permits())
    }

    /// The address of one of this node's processes or modules.
    pub fn address(&self, process: process_lib::ProcessId) -> Address {
        Address {
            node: self.node.clone(),
            process,
        }
    }
}

impl Runtime {
    /// Pushes to channel `channel_id` of this node on behalf of `source`: to the channel
    /// table when this instance holds it, through the cluster when another instance does.
    pub fn push_to_channel(
        &self,
        source: &process_lib::ProcessId,
        channel_id: u32,
        message_type: WsMessageType,
        blob: LazyLoadBlob,
    ) -> Result<(), HttpServerError> {
        if let Some(cluster) = &self.cluster {
            if let Some(owner) = cluster.remote_owner(channel_id) {
                return cluster.push(owner, source, vec![channel_id], message_type, &blob);
            }
        }
        self.channels.push(source, channel_id, message_type, blob)
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
        let pushed = if node != self.node {
            self.net
                .push(self, source, node, channel_id, message_type, blob)
        } else {
            self.push_to_channel(&source.process, channel_id, message_type, blob)
        };
        if let Err(error) = pushed {
            self.telemetry.push_refused(error);
        }
        pushed
    }

    fn ws_push_many(
        &self,
        source: &Address,
        node: &str,
        channel_ids: &[u32],
        message_type: WsMessageType,
        blob: &LazyLoadBlob,
    ) -> Vec<(u32, HttpServerError)> {
        if let Some(cluster) = &self.cluster {
            if node == self.node && cluster.any_remote(channel_ids) {
                return cluster.push_many(
                    &self.channels,
                    &source.process,
                    channel_ids,
                    message_type,
                    blob,
                );
            }
        }
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
                &mut failed,
            );
        }
        for (_, error) in &failed {
            self.telemetry.push_refused(*error);
        }
        failed
    }

    fn ws_push_frames(
        &self,
        source: &Address,
        node: &str,
        channel_ids: &[u32],
        message_type: WsMessageType,
        blobs: &[LazyLoadBlob],
    ) -> Vec<(u32, HttpServerError)> {
        let clustered = self
            .cluster
            .as_ref()
            .is_some_and(|cluster| cluster.any_remote(channel_ids));
        if node != self.node || clustered {
            // Frames that leave this node go one push at a time.
            return process_lib::host::push_frames_one_by_one(
                self,
                source,
                node,
                channel_ids,
                message_type,
                blobs,
            );
        }
        let mut failed = Vec::new();
        self.channels.push_frames(
            &source.process,
            channel_ids,
            message_type,
            blobs,
            &mut failed,
        );
        for (_, error) in &failed {
            self.telemetry.push_refused(*error);
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

    fn siblings(&self, _process: &process_lib::ProcessId) -> Vec<u8> {
        self.cluster
            .as_ref()
            .map(crate::cluster::Cluster::siblings)
            .unwrap_or_default()
    }

    fn sibling_request(
        &self,
        source: &Address,
        instance: u8,
        body: Vec<u8>,
        blob: Option<LazyLoadBlob>,
        timeout: std::time::Duration,
    ) -> HostFuture<Result<SiblingReply, SiblingError>> {
        match &self.cluster {
            Some(cluster) => {
                Box::pin(cluster.sibling_request(source, instance, body, blob, timeout))
            }
            None => Box::pin(async { Err(SiblingError::NotClustered) }),
        }
    }

    fn sibling_publish(
        &self,
        source: &Address,
        body: Vec<u8>,
        blob: Option<LazyLoadBlob>,
    ) -> usize {
        self.cluster
            .as_ref()
            .map_or(0, |cluster| cluster.sibling_publish(source, body, blob))
    }

    fn shared_log(&self, process: &process_lib::ProcessId, name: &str) -> Option<SharedLog> {
        self.cluster
            .as_ref()?
            .shared_log(process, name, &self.shutdown)
    }

    fn shared_map(
        &self,
        process: &process_lib::ProcessId,
        name: &str,
        ttl: std::time::Duration,
    ) -> Option<SharedMap> {
        self.cluster.as_ref()?.shared_map(process, name, ttl)
    }
}
