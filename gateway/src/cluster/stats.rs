//! The cluster's counters: what went out, what came in, and what could not.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters of cross-instance traffic.
#[derive(Debug, Default)]
pub struct ClusterStats {
    sent: AtomicU64,
    received: AtomicU64,
    unreachable: AtomicU64,
    undelivered: AtomicU64,
    malformed: AtomicU64,
    lease_lost: AtomicU64,
}

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterStatsSnapshot {
    /// Push messages published to other instances.
    pub sent: u64,
    /// Push messages received from other instances.
    pub received: u64,
    /// Channels a push to another instance failed for at once (NATS away or too busy).
    pub unreachable: u64,
    /// Channels named by a received push that were gone or owned by another process.
    pub undelivered: u64,
    /// Received messages that did not decode.
    pub malformed: u64,
    /// Times another instance was found holding this instance's number.
    pub lease_lost: u64,
}

impl ClusterStats {
    pub(super) fn count_sent(&self) {
        self.sent.fetch_add(1, Relaxed);
    }

    pub(super) fn count_received(&self) {
        self.received.fetch_add(1, Relaxed);
    }

    pub(super) fn count_unreachable(&self, channels: usize) {
        self.unreachable.fetch_add(channels as u64, Relaxed);
    }

    pub(super) fn count_undelivered(&self, channels: usize) {
        self.undelivered.fetch_add(channels as u64, Relaxed);
    }

    pub(super) fn count_malformed(&self) {
        self.malformed.fetch_add(1, Relaxed);
    }

    pub(super) fn count_lease_lost(&self) {
        self.lease_lost.fetch_add(1, Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> ClusterStatsSnapshot {
        ClusterStatsSnapshot {
            sent: self.sent.load(Relaxed),
            received: self.received.load(Relaxed),
            unreachable: self.unreachable.load(Relaxed),
            undelivered: self.undelivered.load(Relaxed),
            malformed: self.malformed.load(Relaxed),
            lease_lost: self.lease_lost.load(Relaxed),
        }
    }
}
