//! Counters of what the net module did and refused, read by tests and operators.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters; every field only grows.
#[derive(Debug, Default)]
pub struct NetStats {
    /// Kernel messages handed to a link's queue.
    pub sent: AtomicU64,
    /// Kernel messages received from peers and accepted.
    pub received: AtomicU64,
    /// Messages to a peer that was not linked (or unknown, or went down with them queued).
    pub offline: AtomicU64,
    /// Messages refused because the peer's queue was full.
    pub queue_full: AtomicU64,
    /// Messages refused for being over the size limit, either way.
    pub too_large: AtomicU64,
    /// Messages from a peer whose source node was not that peer (or whose target was not us).
    pub bad_source: AtomicU64,
    /// Handshakes that failed: wrong key, unknown name, garbage, timeout.
    pub handshakes_failed: AtomicU64,
    /// Links that came up.
    pub links_up: AtomicU64,
    /// Links dropped for a protocol violation (bad frame, bad record, failed decryption).
    pub links_dropped: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStatsSnapshot {
    /// See [`NetStats::sent`].
    pub sent: u64,
    /// See [`NetStats::received`].
    pub received: u64,
    /// See [`NetStats::offline`].
    pub offline: u64,
    /// See [`NetStats::queue_full`].
    pub queue_full: u64,
    /// See [`NetStats::too_large`].
    pub too_large: u64,
    /// See [`NetStats::bad_source`].
    pub bad_source: u64,
    /// See [`NetStats::handshakes_failed`].
    pub handshakes_failed: u64,
    /// See [`NetStats::links_up`].
    pub links_up: u64,
    /// See [`NetStats::links_dropped`].
    pub links_dropped: u64,
}

impl NetStats {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> NetStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NetStatsSnapshot {
            sent: get(&self.sent),
            received: get(&self.received),
            offline: get(&self.offline),
            queue_full: get(&self.queue_full),
            too_large: get(&self.too_large),
            bad_source: get(&self.bad_source),
            handshakes_failed: get(&self.handshakes_failed),
            links_up: get(&self.links_up),
            links_dropped: get(&self.links_dropped),
        }
    }
}
