//! A node's settings, with the defaults the command line documents. Plain data: nothing
//! here reaches the runtime.
//!
//! - [`net`]: the net module's settings and the peers it links to.

pub mod net;

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
    /// a per-thread 16 KiB buffer (`http::lazy_read`) and this one is held by every socket.
    pub read_buffer_size: usize,
    /// Most WebSocket connections held at once.
    pub max_connections: usize,
    /// Messages that may wait in one process's mailbox.
    pub mailbox_capacity: usize,
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
    /// How long a process has to answer an HTTP request on a path it bound (then 504).
    pub http_response_timeout: Duration,
    /// Certificate and key to serve https/wss with; plain http/ws when `None`.
    pub tls: Option<TlsFiles>,
    /// Where the internal port listens (`/metrics`, `/health`, `/ready`, `/status`); off
    /// when `None`.
    pub metrics_bind: Option<SocketAddr>,
}

/// PEM files for TLS: the certificate chain and its private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Config {
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
            mailbox_capacity: 4096,
            close_timeout: Duration::from_secs(5),
            token_ttl: Duration::from_secs(7 * 24 * 3600),
            allowed_origins: Vec::new(),
            login_burst: 5,
            login_attempts_per_minute: 6,
            http_response_timeout: Duration::from_secs(30),
            tls: None,
            net: NetConfig::default(),
            metrics_bind: None,
        }
    }
}
