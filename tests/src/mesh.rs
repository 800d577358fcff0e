//! Several nodes in one test: each with its own home, key pair, WebSocket listener and net
//! listener on 127.0.0.1:0, and peers configured the way an operator would.

use std::net::SocketAddr;

use gateway::net::{identity, PeerConfig, PublicKey};
use gateway::{Config, ProcessSpec};

use crate::TestNode;

/// A node about to start: its config, its home, and the public key made in that home.
#[derive(Debug)]
pub struct Plan {
    /// The settings it will start with.
    pub config: Config,
    /// Its home (key pair and secret inside).
    pub home: tempfile::TempDir,
    /// Its public key.
    pub key: PublicKey,
}

impl Plan {
    /// A node named `name` with a fresh home and key, listening for peers on 127.0.0.1:0.
    pub fn new(name: &str) -> Self {
        let (mut config, home) = TestNode::config();
        config.node = name.to_owned();
        config.net.bind = Some(([127, 0, 0, 1], 0).into());
        let key = identity::load_or_create(home.path())
            .expect("key pair")
            .public();
        Self { config, home, key }
    }

    /// Lists `name` with `key` as a peer, dialed at `address` when given.
    pub fn peer(
        &mut self,
        name: &str,
        key: PublicKey,
        address: Option<SocketAddr>,
        trust_pushes: bool,
    ) -> &mut Self {
        self.config.net.peers.push(PeerConfig {
            name: name.to_owned(),
            address: address.map(|a| a.to_string()),
            public_key: key,
            trust_pushes,
        });
        self
    }

    /// Starts the node with the bundled processes and `extra`.
    pub async fn start(self, extra: Vec<ProcessSpec>) -> TestNode {
        TestNode::start_with(self.config, self.home, extra).await
    }
}

/// The net address of a started node.
pub fn net_addr(node: &TestNode) -> SocketAddr {
    node.node.net_addr().expect("the node listens for peers")
}

/// Waits (bounded) until `node`'s link to `peer` is up, or down.
pub async fn wait_linked(node: &TestNode, peer: &str, up: bool) {
    let reached = tokio::time::timeout(crate::WAIT, node.node.wait_linked(peer, up))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{}: link to {peer} not {} in time",
                node.node.node(),
                if up { "up" } else { "down" }
            )
        });
    assert!(reached, "{peer} is not a peer of {}", node.node.node());
}
