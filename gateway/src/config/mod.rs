//! A node's settings, with the defaults the command line documents. Plain data: nothing
//! here reaches the runtime.
//!
//! - [`settings`]: every setting by name, with its key, variable and flag.
//! - [`layers`]: the settings a node runs with — defaults, then `<home>/config.toml`
//!   ([`file`]), then `SWITCHBOARD_*` variables, then flags — and where each came from.
//! - [`net`]: the net module's settings and the peers it links to.
//! - [`cluster`]: the NATS server the instances of one node share.
//! - [`commands`]: the programs the node runs as processes (`[[process]]` tables).

pub mod cluster;
pub mod commands;
pub mod file;
pub mod layers;
pub mod net;
pub mod settings;

pub use commands::{CommandConfig, Restart};

pub use cluster::ClusterConfig;
pub use net::{NetConfig, PeerConfig, PeerParseError};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The node name used when none is given.
pub const DEFAULT_NODE: &str = "local.os";

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directory holding the node's secret and the processes' state.
    pub home: PathBuf,
    /// Where the WebSocket/HTTP listener binds.
    pub bind: SocketAddr,
    /// This node's name.
    pub node: String,
    /// How long a client has to send its register frame.
    pub register_timeout: Duration,
    /// Largest message a client may send, in bytes.
    pub max_message_size: usize,
    /// Bytes that may wait in one channel's outbox before it counts as a slow consumer.
    pub writer_queue_bytes: usize,
    /// tungstenite's read buffer per socket, in bytes. Small, because socket reads go through
    /// a per-thread 16 KiB buffer (`ws::lazy_read`) and this one is held by every socket.
    pub read_buffer_size: usize,
    /// Most WebSocket connections held at once.
    pub max_connections: usize,
    /// Most WebSocket connections one client address may hold at once; 0 for no limit.
    pub max_connections_per_address: u32,
    /// New WebSocket connections one client address may open per second (a token bucket
    /// that holds as many); 0 for no limit.
    pub connections_per_second_per_address: u32,
    /// Messages that may wait in one process's mailbox.
    pub mailbox_capacity: usize,
    /// Bytes (bodies and blobs) that may wait for a process outside the node to read them.
    pub process_mailbox_bytes: usize,
    /// How long a closing socket may take to flush its last frames.
    pub close_timeout: Duration,
    /// Node-to-node links: the listener, the peers, their limits.
    pub net: NetConfig,
    /// How long a token from `POST /login` lives.
    pub token_ttl: Duration,
    /// Origins, besides the node's own, whose pages may open WebSockets (`https://app.example`).
    pub allowed_origins: Vec<String>,
    /// Login attempts one client address may make in a burst, before being slowed down.
    pub login_burst: u32,
    /// Login attempts one client address regains per minute once its burst is spent.
    pub login_attempts_per_minute: u32,
    /// How long a client may take to send a request's headers (then 408 and the connection is
    /// closed).
    pub header_read_timeout: Duration,
    /// How long a process has to answer an HTTP request on a path it bound (then 504).
    pub http_response_timeout: Duration,
    /// Certificate and key to serve https/wss with; plain http/ws when `None`.
    pub tls: Option<TlsFiles>,
    /// A file holding the token-signing secret, shared by every instance of a clustered node;
    /// `None` uses (and on first run creates) the secret in the home.
    pub token_secret_file: Option<PathBuf>,
    /// The node's cluster, when this is one of several instances of it.
    pub cluster: Option<ClusterConfig>,
    /// Where the internal port listens (`/metrics`, `/health`, `/ready`, `/status`); off
    /// when `None`.
    pub metrics_bind: Option<SocketAddr>,
    /// Programs the node starts, once it listens, as processes outside it.
    pub commands: Vec<CommandConfig>,
    /// How the node stops on a signal: channels closed in batches, then a deadline.
    pub drain: DrainConfig,
}

/// The staggered drain: on a stop signal, channels are closed `batch_size` at a time every
/// `batch_interval`, and the node stops once all are closed or `timeout` has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainConfig {
    /// Channels closed together.
    pub batch_size: usize,
    /// The pause between two batches.
    pub batch_interval: Duration,
    /// The longest a drain takes; channels still open then are closed at once.
    pub timeout: Duration,
}

impl Default for DrainConfig {
    /// 500 every 250 ms: ten thousand clients are told over five seconds, so they do not
    /// all reconnect to the other nodes in the same instant.
    fn default() -> Self {
        Self {
            batch_size: 500,
            batch_interval: Duration::from_millis(250),
            timeout: Duration::from_secs(30),
        }
    }
}

/// PEM files for TLS: the certificate chain and its private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// An origin as the allow-list compares it: lower case, no trailing `/`.
pub fn normalize_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Whether `origin` is `scheme://host[:port]` with an http(s) scheme.
fn valid_origin(origin: &str) -> bool {
    let Some((scheme, host)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains('/')
}

impl Config {
    /// What is wrong with these settings beyond each value's type, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(error) = process_lib::address::validate_node_name(&self.node) {
            problems.push(format!("invalid node name {:?}: {error}", self.node));
        }
        for origin in &self.allowed_origins {
            if !valid_origin(origin) {
                problems.push(format!(
                    "allow_origins: {origin:?} is not an origin: give scheme://host[:port], e.g. https://app.example"
                ));
            }
        }
        if let Some(tls) = &self.tls {
            if tls.cert.as_os_str().is_empty() || tls.key.as_os_str().is_empty() {
                problems
                    .push("--tls-cert and --tls-key go together (tls_cert and tls_key in config.toml): give both, or neither".to_owned());
            }
        }
        let at_least_one = [
            ("token_ttl_secs", self.token_ttl.as_secs() as usize),
            ("max_connections", self.max_connections),
            ("mailbox_capacity", self.mailbox_capacity),
            ("process_mailbox_bytes", self.process_mailbox_bytes),
            ("max_message_size", self.max_message_size),
            ("read_buffer_size", self.read_buffer_size),
            ("drain_batch_size", self.drain.batch_size),
            (
                "header_timeout_ms",
                self.header_read_timeout.as_millis() as usize,
            ),
            ("net_queue_capacity", self.net.queue_capacity),
            ("net_max_message_size", self.net.max_message_size),
        ];
        for (key, value) in at_least_one {
            if value == 0 {
                problems.push(format!("{key} must be at least 1"));
            }
        }
        if self.net.redial_min > self.net.redial_max {
            problems.push("net_redial_min_ms must not be above net_redial_max_ms".to_owned());
        }
        if self
            .cluster
            .as_ref()
            .is_some_and(|c| c.nats_url.trim().is_empty())
        {
            problems.push("cluster_nats_url is empty: give nats://HOST:PORT".to_owned());
        }
        problems
    }

    /// The defaults, for the given home directory.
    pub fn new(home: impl Into<PathBuf>) -> Self {
        Self {
            home: home.into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            node: DEFAULT_NODE.to_owned(),
            register_timeout: Duration::from_secs(10),
            max_message_size: 1 << 20,
            writer_queue_bytes: 1 << 20,
            read_buffer_size: 128,
            max_connections: 100_000,
            max_connections_per_address: 0,
            connections_per_second_per_address: 0,
            mailbox_capacity: 4096,
            process_mailbox_bytes: 4 << 20,
            close_timeout: Duration::from_secs(5),
            token_ttl: Duration::from_secs(7 * 24 * 3600),
            allowed_origins: Vec::new(),
            login_burst: 5,
            login_attempts_per_minute: 6,
            header_read_timeout: Duration::from_secs(10),
            http_response_timeout: Duration::from_secs(30),
            tls: None,
            net: NetConfig::default(),
            token_secret_file: None,
            cluster: None,
            metrics_bind: None,
            drain: DrainConfig::default(),
            commands: Vec::new(),
        }
    }
}
