//! The cluster's settings: where the node's NATS server is, and how long an instance's claim
//! on its instance number lives without a heartbeat.

use std::time::Duration;

/// How an instance joins the other instances of its node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The NATS server every instance of the node connects to (`nats://HOST:PORT`), with
    /// JetStream enabled.
    pub nats_url: String,
    /// How long an instance number stays claimed after the instance's last heartbeat. An
    /// instance killed without warning frees its number after this long.
    pub lease_ttl: Duration,
}

impl ClusterConfig {
    /// The defaults, for the NATS server at `nats_url`.
    pub fn new(nats_url: impl Into<String>) -> Self {
        Self {
            nats_url: nats_url.into(),
            lease_ttl: Duration::from_secs(15),
        }
    }

    /// How often the instance renews its claim: three times per lease.
    pub fn heartbeat(&self) -> Duration {
        self.lease_ttl / 3
    }
}
