//! Starting and stopping a node: the library entry point that the binary and the tests share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use process_lib::WsErrorCode;
use tokio::net::TcpListener;

use crate::auth::Auth;
use crate::config::Config;
use crate::home::{self, HomeError};
use crate::kernel::{supervisor, ProcessSpec};
use crate::net::{NetStatsSnapshot, PublicKey};
use crate::runtime::Runtime;

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The home directory or its secret is unusable.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The node name is not `[a-z0-9-.]+`.
    #[error("invalid node name {name:?}: {source}")]
    NodeName {
        /// The name given.
        name: String,
        /// Why it is invalid.
        source: process_lib::AddressParseError,
    },
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The net module (identity, peers, listener) could not start.
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
    /// The list of processes has a malformed or repeated id.
    #[error(transparent)]
    Processes(#[from] crate::builder::ProcessListError),
    /// The instance could not join its node's cluster.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// A `[[process]]` entry names a process the node runs inside itself.
    #[error("[[process]] {id} names a process this node runs inside itself; pick another id")]
    CommandInNode {
        /// The id.
        id: process_lib::ProcessId,
    },
    /// The listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The internal port (metrics, health, status) could not bind.
    #[error("cannot serve metrics on {addr}: {source}")]
    MetricsBind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The processes every node runs.
pub fn bundled_processes() -> Vec<ProcessSpec> {
    let id = |literal: &str| -> process_lib::ProcessId {
        literal
            .parse()
            .unwrap_or_else(|_| unreachable!("a valid literal"))
    };
    vec![
        ProcessSpec::new(id(processes::echo::ID), processes::echo::run),
        ProcessSpec::new(id(processes::chat::ID), processes::chat::run),
        ProcessSpec::new(id(processes::counter::ID), processes::counter::run),
        ProcessSpec::new(id(processes::broadcast::ID), processes::broadcast::run),
    ]
}

/// A node that is running.
#[derive(Debug)]
pub struct RunningNode {
    rt: Arc<Runtime>,
    local_addr: SocketAddr,
    scheme: &'static str,
    net_addr: Option<SocketAddr>,
    public_key: PublicKey,
    metrics_addr: Option<SocketAddr>,
    ops: Option<crate::ops::OpsServer>,
    commands: crate::commands::Commands,
}

/// Starts a node with `processes`, listening on `config.bind`.
pub async fn start(config: Config, processes: Vec<ProcessSpec>) -> Result<RunningNode, StartError> {
    process_lib::address::validate_node_name(&config.node).map_err(|source| {
        StartError::NodeName {
            name: config.node.clone(),
            source,
        }
    })?;
    if let Some(command) = config
        .commands
        .iter()
        .find(|c| processes.iter().any(|p| p.id == c.id))
    {
        return Err(StartError::CommandInNode {
            id: command.id.clone(),
        });
    }
    let secret = home::token_secret(&config.home, config.token_secret_file.as_deref())?;
    crate::net::Net::validate(&config.net, &config.node)?;
    let identity =
        crate::net::identity::load_or_create(&config.home).map_err(crate::net::NetError::from)?;
    let public_key = identity.public();
    let auth = Auth::new(&config.node, &secret);
    let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
    let listener = TcpListener::bind(config.bind)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.bind,
        source,
    })?;
    let metrics_listener = match config.metrics_bind {
        Some(addr) => {
            let bind_error = |source| StartError::MetricsBind { addr, source };
            let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
            let bound = listener.local_addr().map_err(bind_error)?;
            Some((listener, bound))
        }
        None => None,
    };
    let cluster = match &config.cluster {
        Some(cluster) => Some(crate::cluster::join(&config.node, cluster).await?),
        None => None,
    };
    let rt = Runtime::with_cluster(config, auth, cluster);
    crate::cluster::start(&rt);
    let net_addr = match crate::net::start(&rt, identity).await {
        Ok(addr) => addr,
        Err(error) => {
            rt.shutdown.cancel();
            return Err(error.into());
        }
    };
    for spec in processes {
        supervisor::spawn(&rt, spec);
    }
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    rt.tasks
        .spawn(crate::server::accept_loop(rt.clone(), listener, tls));
    // One waiter for the whole node rather than one in every channel: at shutdown every
    // open channel is failed with 1001 (a channel opening meanwhile fails itself).
    rt.tasks.spawn({
        let rt = rt.clone();
        async move {
            rt.shutdown.cancelled().await;
            let closed = rt
                .channels
                .fail_all(WsErrorCode::GoingAway, crate::ws::channel::SHUTTING_DOWN);
            tracing::debug!(closed, "channels closed for shutdown");
        }
    });
    let metrics_addr = metrics_listener.as_ref().map(|(_, addr)| *addr);
    let ops = metrics_listener.map(|(listener, addr)| {
        tracing::info!(%addr, "internal port listening (metrics, health, ready, status)");
        crate::ops::start(rt.clone(), listener)
    });
    tracing::info!(node = %rt.node, %local_addr, "node started");
    let commands = start_commands(&rt, scheme, local_addr);
    Ok(RunningNode {
        rt,
        local_addr,
        scheme,
        net_addr,
        public_key,
        metrics_addr,
        ops,
        commands,
    })
}

/// Starts the programs of the `[[process]]` entries, pointed at the process socket on the
/// loopback address when the listener takes every address.
fn start_commands(
    rt: &Arc<Runtime>,
    scheme: &str,
    local_addr: SocketAddr,
) -> crate::commands::Commands {
    let mut reach = local_addr;
    if reach.ip().is_unspecified() {
        reach.set_ip(match reach {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let auth = rt.auth.clone();
    let ttl = rt.config.token_ttl;
    let launch = crate::commands::Launch {
        url: format!("{scheme}://{reach}{}", process_lib::remote::wire::PATH),
        node: rt.node.to_string(),
        mint_token: Arc::new(move |id| auth.mint_process(id, ttl)),
    };
    crate::commands::start(rt.config.commands.clone(), launch, rt.shutdown.clone())
}

impl RunningNode {
    /// Where the listener is bound (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://ADDR:PORT/` (`wss://` under TLS), the URL clients connect to.
    pub fn ws_url(&self) -> String {
        format!("{}://{}/", self.scheme, self.local_addr)
    }

    /// `http://ADDR:PORT` (`https://` under TLS), with no trailing slash.
    pub fn http_url(&self) -> String {
        let scheme = if self.scheme == "wss" {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.local_addr)
    }

    /// Where this node keeps its secret, password hash and process state.
    pub fn home(&self) -> &std::path::Path {
        &self.rt.config.home
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.rt.node
    }

    /// The token issuer of this node.
    pub fn auth(&self) -> &Auth {
        &self.rt.auth
    }

    /// A token for this node, valid for `ttl`.
    pub fn mint_token(&self, ttl: Duration) -> String {
        self.rt.auth.mint(ttl)
    }

    /// Where the node-to-node listener is bound, when `--net-bind` was given.
    pub fn net_addr(&self) -> Option<SocketAddr> {
        self.net_addr
    }

    /// Where the internal port (`/metrics`, `/health`, `/ready`, `/status`) is bound, when
    /// `metrics_bind` was given.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// This node's public key, which its peers list in their config.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// The net module's counters.
    pub fn net_stats(&self) -> NetStatsSnapshot {
        self.rt.net.stats.snapshot()
    }

    /// Whether a link to peer `node` is up.
    pub fn is_linked(&self, node: &str) -> bool {
        self.rt.net.is_linked(node)
    }

    /// Waits until the link to peer `node` is up (`up`) or down; false for an unknown peer.
    pub async fn wait_linked(&self, node: &str, up: bool) -> bool {
        self.rt.net.wait_linked(node, up).await
    }

    /// Changes the address this node dials peer `node` at; false for an unknown peer.
    pub fn set_peer_address(&self, node: &str, address: Option<String>) -> bool {
        self.rt.net.set_peer_address(node, address)
    }

    /// This instance's number in its node's cluster; `None` when it is not clustered.
    pub fn cluster_instance(&self) -> Option<u8> {
        self.rt.cluster.as_ref().map(|c| c.instance())
    }

    /// Whether this instance's link to the cluster's NATS server is up (false unclustered).
    pub fn cluster_up(&self) -> bool {
        self.rt.cluster.as_ref().is_some_and(|c| c.is_up())
    }

    /// Waits until the link to the cluster's NATS server is up (`up`) or down; returns at
    /// once when the node is not clustered.
    pub async fn wait_cluster_up(&self, up: bool) {
        if let Some(cluster) = &self.rt.cluster {
            cluster.wait_up(up).await;
        }
    }

    /// The cluster's counters (all zero when not clustered).
    pub fn cluster_stats(&self) -> crate::cluster::ClusterStatsSnapshot {
        self.rt
            .cluster
            .as_ref()
            .map(|c| c.stats.snapshot())
            .unwrap_or_default()
    }

    /// Frames from programs on the process socket that the node could not use.
    pub fn malformed_process_frames(&self) -> u64 {
        self.rt
            .outside
            .malformed_frames
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A process token for `process`, valid for `ttl`.
    pub fn mint_process_token(&self, process: &process_lib::ProcessId, ttl: Duration) -> String {
        self.rt.auth.mint_process(process, ttl)
    }

    /// Whether `process` serves WebSockets on `path` (normalised, e.g. `/ws`), having bound it.
    pub fn is_ws_bound(&self, process: &process_lib::ProcessId, path: &str) -> bool {
        self.rt
            .bindings
            .lookup(crate::http::bindings::Kind::WebSocket, process, path)
            .is_some()
    }

    /// How many WebSocket channels are open.
    pub fn channel_count(&self) -> usize {
        self.rt.channels.len()
    }

    /// Resolves when the node is asked to shut down.
    pub async fn cancelled(&self) {
        self.rt.shutdown.cancelled().await;
    }

    /// The refusals of the connection limits so far, by kind.
    pub fn limit_refusals(&self) -> crate::ws::limits::RefusalSnapshot {
        self.rt.limits.refused.snapshot()
    }

    /// Whether the node has begun to drain (or shut down): `/ready` answers 503 from then on.
    pub fn is_draining(&self) -> bool {
        self.rt.is_draining()
    }

    /// The staggered stop: stops accepting, closes the channels with 1001 in batches (as
    /// `config.drain` says), waits until every one has ended and its process was told, or
    /// until the drain's deadline, then shuts down as [`RunningNode::shutdown`] does.
    pub async fn drain(self) -> crate::ws::drain::DrainReport {
        let report = crate::ws::drain::drain(&self.rt).await;
        self.shutdown().await;
        report
    }

    /// Stops accepting, closes every channel with 1001 at once, stops the processes and the
    /// programs of `[[process]]` entries (SIGTERM, then SIGKILL after their timeout), and waits
    /// (at most `close_timeout` and a little more) for every task to end. `/ready` answers
    /// 503 from the start; the internal port stops last.
    pub async fn shutdown(self) {
        self.rt.shutdown.cancel();
        // The programs are asked to stop while the channels close; each has its own timeout.
        self.commands.stopped().await;
        self.rt.tasks.close();
        let limit = self.rt.config.close_timeout + Duration::from_secs(1);
        if tokio::time::timeout(limit, self.rt.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not end in time");
        }
        if let Some(ops) = self.ops {
            ops.stop().await;
        }
    }
}
