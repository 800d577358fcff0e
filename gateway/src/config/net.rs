//! The net module's settings: where it listens, its peers, its limits.

use std::net::SocketAddr;
use std::time::Duration;

use crate::net::key::PublicKey;

/// The net module's settings.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Where to listen for peers; no listener when `None` (the node may still dial out).
    pub bind: Option<SocketAddr>,
    /// The peers this node links to or accepts.
    pub peers: Vec<PeerConfig>,
    /// Largest kernel message on a link, encoded, in bytes.
    pub max_message_size: usize,
    /// A quiet link sends a keepalive this often.
    pub keepalive: Duration,
    /// A link that receives nothing for this long is dropped.
    pub idle_timeout: Duration,
    /// How long a connection has to complete its handshake (an inbound one must also send
    /// its first message within [`crate::net::admission::FIRST_MESSAGE_WAIT`]).
    pub handshake_timeout: Duration,
    /// Messages that may wait in one link's queue.
    pub queue_capacity: usize,
    /// Payload bytes that may wait in one link's queue.
    pub queue_bytes: usize,
    /// The first wait before redialing a peer after a failed dial.
    pub redial_min: Duration,
    /// The longest wait between dials.
    pub redial_max: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            bind: None,
            peers: Vec::new(),
            max_message_size: 10 << 20,
            keepalive: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            queue_capacity: 16 * 1024,
            queue_bytes: 64 << 20,
            redial_min: Duration::from_millis(100),
            redial_max: Duration::from_secs(5),
        }
    }
}

/// A peer as the config lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// Its node name.
    pub name: String,
    /// Where it listens (`host:port`); without one we only accept its dials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The static key it must prove.
    pub public_key: PublicKey,
    /// Whether its processes may push to our channels bound to the same process id.
    #[serde(default)]
    pub trust_pushes: bool,
}

/// Why a `--peer` argument is not a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerParseError {
    /// A part that is not `name=…`, `key=…`, `address=…` or `trust`.
    #[error("unknown part {0:?} (expected name=NODE,key=HEX[,address=HOST:PORT][,trust])")]
    UnknownPart(String),
    /// `name=` or `key=` is missing.
    #[error("missing {0}=")]
    Missing(&'static str),
    /// The key is not 64 hex digits.
    #[error("bad key: {0}")]
    Key(#[from] crate::net::key::KeyParseError),
}

impl std::str::FromStr for PeerConfig {
    type Err = PeerParseError;

    /// Parses `name=bob.os,key=HEX[,address=127.0.0.1:9001][,trust]`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (mut name, mut key, mut address, mut trust_pushes) = (None, None, None, false);
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("name", value)) => name = Some(value.to_owned()),
                Some(("key", value)) => key = Some(value.parse()?),
                Some(("address", value)) => address = Some(value.to_owned()),
                None if part == "trust" => trust_pushes = true,
                _ => return Err(PeerParseError::UnknownPart(part.to_owned())),
            }
        }
        Ok(Self {
            name: name.ok_or(PeerParseError::Missing("name"))?,
            address,
            public_key: key.ok_or(PeerParseError::Missing("key"))?,
            trust_pushes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_arguments_parse() {
        let key = "ab".repeat(32);
        let peer: PeerConfig = format!("name=bob.os,key={key},address=127.0.0.1:9001,trust")
            .parse()
            .unwrap();
        assert_eq!(peer.name, "bob.os");
        assert_eq!(peer.address.as_deref(), Some("127.0.0.1:9001"));
        assert!(peer.trust_pushes);
        assert_eq!(
            "name=bob.os".parse::<PeerConfig>(),
            Err(PeerParseError::Missing("key"))
        );
        assert!(matches!(
            format!("name=x,key={key},color=red").parse::<PeerConfig>(),
            Err(PeerParseError::UnknownPart(_))
        ));
    }
}
