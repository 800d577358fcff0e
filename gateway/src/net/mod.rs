//! The `net:distro:sys` module: encrypted, authenticated links to peer nodes, carrying
//! kernel messages (requests, responses, and pushes to a peer's http-server).
//!
//! A message to another node's process goes to [`Net::send`], which hands it to the live
//! link's queue or fails at once: `Offline` when the peer is unknown or not linked,
//! `MailboxFull` when its queue is full. Nothing here waits, so a dead peer never slows the
//! router or traffic to other peers. Every failure is counted in [`NetStats`] and logged.
//!
//! ## Layout
//! - [`identity`]: the node's static X25519 key pair, kept in the home.
//! - [`key`]: a public key as peers name it (64 hex digits).
//! - [`peers`]: configured peers, the one live link per peer, and the tie-break.
//! - [`admission`]: which inbound connections may handshake: per-address caps, a short wait
//!   for the first message, slots that a flood cannot take from configured peers' addresses.
//! - [`handshake`]: Noise XX, and the check of the peer's name against its key.
//! - [`queue`]: each link's outgoing queue, bounded in messages and bytes.
//! - [`requests`]: what local processes ask `net:distro:sys` (the peer list).
//! - [`session`]: the sealing and opening halves of an established session.
//! - [`framing`]: length-prefixed frames on TCP (tokio-util's `LengthDelimitedCodec`).
//! - [`codec`]: kernel messages as records in bincode, split across frames and reassembled.
//! - [`link`]: accepting, dialing with backoff, starting a link once its handshake is done.
//! - [`transport`]: each link's writer and reader tasks.
//! - [`stats`]: the counters of what was sent, refused and dropped.

pub mod admission;
pub mod codec;
pub mod framing;
pub mod handshake;
pub mod identity;
pub mod key;
pub mod link;
pub mod peers;
pub mod queue;
pub mod requests;
pub mod session;
pub mod stats;
pub mod transport;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use process_lib::host::Host;
use process_lib::{
    http_server_id, Address, HttpServerAction, HttpServerError, KernelMessage, LazyLoadBlob,
    SendErrorKind, WireMessage, WsMessageType,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc::error::TrySendError;

pub use identity::{Identity, IdentityError, PublicKey};
pub use stats::{NetStats, NetStatsSnapshot};

/// The net module's settings live with the node's ([`crate::config`]).
pub use crate::config::{NetConfig, PeerConfig};

use crate::runtime::Runtime;

/// Why the net module did not start.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The key pair could not be loaded.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The listener could not bind.
    #[error("cannot listen for peers on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A configured peer is unusable.
    #[error("peer {name:?}: {reason}")]
    BadPeer {
        /// The peer's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// The net module's state, a field of the [`Runtime`].
#[derive(Debug)]
pub struct Net {
    /// Its settings.
    pub config: NetConfig,
    /// The configured peers and their links.
    pub peers: peers::Peers,
    /// What it did and refused.
    pub stats: NetStats,
    next_link_id: AtomicU64,
}

impl Net {
    /// The module for `config`; nothing runs until [`start`].
    pub fn new(config: NetConfig) -> Self {
        Self {
            peers: peers::Peers::new(&config.peers),
            config,
            stats: NetStats::default(),
            next_link_id: AtomicU64::new(1),
        }
    }

    /// Checks the peer list against our own name: valid, unique names that are not ours.
    pub fn validate(config: &NetConfig, our: &str) -> Result<(), NetError> {
        let mut seen = std::collections::HashSet::new();
        for peer in &config.peers {
            let bad = |reason: &str| NetError::BadPeer {
                name: peer.name.clone(),
                reason: reason.to_owned(),
            };
            process_lib::address::validate_node_name(&peer.name)
                .map_err(|_| bad("not a valid node name"))?;
            if peer.name == our {
                return Err(bad("a node cannot be its own peer"));
            }
            if !seen.insert(&peer.name) {
                return Err(bad("listed twice"));
            }
        }
        Ok(())
    }

    /// Queues `message` on the link to its target node, or hands it back at once.
    pub fn send(&self, message: KernelMessage) -> Result<(), (SendErrorKind, KernelMessage)> {
        let node = message.target.node.as_str();
        let Some(peer) = self.peers.get(node).cloned() else {
            NetStats::bump(&self.stats.offline);
            tracing::warn!(peer = %node, source = %message.source, "message to a node that is not a configured peer");
            return Err((SendErrorKind::Offline, message));
        };
        let payload = queue::payload_len(&message);
        if payload > self.config.max_message_size {
            NetStats::bump(&self.stats.too_large);
            tracing::warn!(peer = %node, source = %message.source, payload, "message over the link's size limit not sent");
            return Err((SendErrorKind::Offline, message));
        }
        let Some(link) = peer.link() else {
            NetStats::bump(&self.stats.offline);
            if peer.first_offline() {
                tracing::warn!(peer = %node, source = %message.source, "peer not linked; messages to it fail Offline until it is (counted in the net stats)");
            } else {
                tracing::debug!(peer = %node, source = %message.source, "peer not linked; message not sent");
            }
            return Err((SendErrorKind::Offline, message));
        };
        match link.queue.try_send(message) {
            Ok(()) => {
                NetStats::bump(&self.stats.sent);
                Ok(())
            }
            Err(TrySendError::Full(message)) => {
                NetStats::bump(&self.stats.queue_full);
                if peer.full_warning_due() {
                    tracing::warn!(peer = %peer.name, source = %message.source, "link queue full; messages refused with MailboxFull (counted in the net stats)");
                } else {
                    tracing::debug!(peer = %peer.name, source = %message.source, "link queue full; message not sent");
                }
                Err((SendErrorKind::MailboxFull, message))
            }
            Err(TrySendError::Closed(message)) => {
                NetStats::bump(&self.stats.offline);
                tracing::warn!(peer = %peer.name, source = %message.source, "link closing; message not sent");
                Err((SendErrorKind::Offline, message))
            }
        }
    }

    /// Sends a push to channel `channel_id` on peer `node`, as a `WebSocketPush` request
    /// from `source` to the peer's http-server. Fails at once (`WsChannelNotFound`) when the
    /// push cannot leave this node; the peer's own refusals are only seen by a sender that
    /// asks for an answer (a `Request` to the peer's `http-server:distro:sys`).
    pub fn push(
        &self,
        rt: &Runtime,
        source: &Address,
        node: &str,
        channel_id: u32,
        message_type: WsMessageType,
        blob: LazyLoadBlob,
    ) -> Result<(), HttpServerError> {
        let action = HttpServerAction::WebSocketPush {
            channel_id,
            message_type,
        };
        let body = serde_json::to_vec(&action).map_err(|_| HttpServerError::MalformedRequest)?;
        let message = KernelMessage {
            id: rt.next_id(),
            source: source.clone(),
            target: Address {
                node: node.into(),
                process: http_server_id(),
            },
            rsvp: None,
            message: WireMessage::Request {
                expects_response: None,
                body,
            },
            blob: Some(blob),
        };
        self.send(message)
            .map_err(|_| HttpServerError::WsChannelNotFound)
    }

    /// Whether `node` is a peer whose pushes we accept.
    pub fn trusts_pushes(&self, node: &str) -> bool {
        self.peers.get(node).is_some_and(|p| p.trust_pushes)
    }

    /// Whether a link to `node` is up.
    pub fn is_linked(&self, node: &str) -> bool {
        self.peers.get(node).is_some_and(|p| p.is_up())
    }

    /// Waits until the link to `node` is up (`up`) or down (`!up`). False for an unknown
    /// peer.
    pub async fn wait_linked(&self, node: &str, up: bool) -> bool {
        let Some(peer) = self.peers.get(node) else {
            return false;
        };
        let mut watch = peer.watch_up();
        let reached = watch.wait_for(|now| *now == up).await.is_ok();
        reached
    }

    /// Changes the address we dial `node` at. False for an unknown peer.
    pub fn set_peer_address(&self, node: &str, address: Option<String>) -> bool {
        let Some(peer) = self.peers.get(node) else {
            return false;
        };
        peer.set_address(address);
        true
    }
}

/// Starts the net module: the listener (when `config.bind` is set) and a dialer per peer.
/// Returns the listener's address.
pub async fn start(rt: &Arc<Runtime>, identity: Identity) -> Result<Option<SocketAddr>, NetError> {
    let identity = Arc::new(identity);
    let mut local = None;
    if let Some(addr) = rt.net.config.bind {
        let bind_error = |source| NetError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let bound = listener.local_addr().map_err(bind_error)?;
        rt.tasks
            .spawn(link::accept_loop(rt.clone(), identity.clone(), listener));
        tracing::info!(node = %rt.node, net_addr = %bound, public_key = %identity.public(), "net listening");
        local = Some(bound);
    }
    for peer in rt.net.peers.iter() {
        rt.tasks
            .spawn(link::dial_loop(rt.clone(), identity.clone(), peer.clone()));
    }
    Ok(local)
}
