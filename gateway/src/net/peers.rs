//! The peers a node knows (from its config) and the one live link to each.
//!
//! Both nodes of a pair may dial at once. When a second link to the same peer comes up, both
//! sides keep the link dialed by the node whose name sorts first and close the other, so
//! they agree without talking. A link dialed by the same side as the live one replaces it:
//! the peer restarted and the old link is stale.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::identity::PublicKey;
use super::queue::LinkQueue;
use crate::config::PeerConfig;

/// The sending side of a live link.
#[derive(Debug, Clone)]
pub struct LinkHandle {
    /// Unique per link, so a finished link unregisters only itself.
    pub id: u64,
    /// The node that dialed it.
    pub dialer: String,
    /// The writer task's queue.
    pub queue: LinkQueue,
    /// Cancelled to close the link.
    pub cancel: CancellationToken,
}

/// One configured peer and its link.
#[derive(Debug)]
pub struct Peer {
    /// Its node name.
    pub name: String,
    /// The key it must prove.
    pub key: PublicKey,
    /// Whether pushes from it are trusted.
    pub trust_pushes: bool,
    address: watch::Sender<Option<String>>,
    link: Mutex<Option<LinkHandle>>,
    up: watch::Sender<bool>,
    /// Set once a failed send to this peer has been logged as a warning; cleared when a
    /// link comes up, so a flood of sends to a dead peer logs one warning, not thousands.
    offline_warned: AtomicBool,
    /// When a full queue was last logged as a warning, in ms since `created` (+1, 0 = never).
    last_full_warning: AtomicU64,
    created: std::time::Instant,
    /// Bytes written to and read from this peer's links, framing and encryption included.
    pub bytes_sent: AtomicU64,
    /// See [`Self::bytes_sent`].
    pub bytes_received: AtomicU64,
    /// Links that came up with this peer.
    pub links: AtomicU64,
}

impl Peer {
    fn new(config: &PeerConfig) -> Self {
        Self {
            name: config.name.clone(),
            key: config.public_key,
            trust_pushes: config.trust_pushes,
            address: watch::channel(config.address.clone()).0,
            link: Mutex::new(None),
            up: watch::channel(false).0,
            offline_warned: AtomicBool::new(false),
            last_full_warning: AtomicU64::new(0),
            created: std::time::Instant::now(),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            links: AtomicU64::new(0),
        }
    }

    /// The live link, if any.
    pub fn link(&self) -> Option<LinkHandle> {
        self.link.lock().clone()
    }

    /// The live link's number, if a link is up.
    pub fn link_id(&self) -> Option<u64> {
        self.link.lock().as_ref().map(|link| link.id)
    }

    /// True the first time it is asked after the link went down (or since start): whether
    /// a failed send should be logged as a warning rather than at debug level.
    pub fn first_offline(&self) -> bool {
        !self.offline_warned.swap(true, Ordering::Relaxed)
    }

    /// Whether a full queue should be logged as a warning now: at most once a second.
    pub fn full_warning_due(&self) -> bool {
        let now = self.created.elapsed().as_millis() as u64 + 1;
        let last = self.last_full_warning.load(Ordering::Relaxed);
        (last == 0 || now.saturating_sub(last) >= 1000)
            && self
                .last_full_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Whether a link is up.
    pub fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    /// Watches whether a link is up.
    pub fn watch_up(&self) -> watch::Receiver<bool> {
        self.up.subscribe()
    }

    /// Whether this node dials the peer (an address is configured), and so needs its link.
    pub fn dials(&self) -> bool {
        self.address.borrow().is_some()
    }

    /// Links that came up again after the first.
    pub fn reconnects(&self) -> u64 {
        self.links.load(Ordering::Relaxed).saturating_sub(1)
    }

    /// Watches the address to dial.
    pub fn watch_address(&self) -> watch::Receiver<Option<String>> {
        self.address.subscribe()
    }

    /// Changes the address to dial (e.g. the peer moved).
    pub fn set_address(&self, address: Option<String>) {
        self.address.send_replace(address);
    }

    /// Makes `link` the live link, or refuses it (returns false) when the live one wins the
    /// tie-break. `preferred_dialer` is the name that sorts first of the pair.
    pub fn register(&self, link: LinkHandle, preferred_dialer: &str) -> bool {
        let mut slot = self.link.lock();
        if let Some(live) = slot.as_ref() {
            let replace = live.dialer == link.dialer
                || (link.dialer == preferred_dialer && live.dialer != preferred_dialer);
            if !replace {
                return false;
            }
            live.cancel.cancel();
        }
        *slot = Some(link);
        self.links.fetch_add(1, Ordering::Relaxed);
        self.offline_warned.store(false, Ordering::Relaxed);
        self.up.send_replace(true);
        true
    }

    /// Forgets link `id` if it is the live one.
    pub fn unregister(&self, id: u64) {
        let mut slot = self.link.lock();
        if slot.as_ref().is_some_and(|l| l.id == id) {
            *slot = None;
            self.up.send_replace(false);
        }
    }
}

/// Every configured peer, by name.
#[derive(Debug, Default)]
pub struct Peers {
    by_name: HashMap<String, Arc<Peer>>,
}

impl Peers {
    /// The table for the configured peers.
    pub fn new(configs: &[PeerConfig]) -> Self {
        Self {
            by_name: configs
                .iter()
                .map(|c| (c.name.clone(), Arc::new(Peer::new(c))))
                .collect(),
        }
    }

    /// A peer by name.
    pub fn get(&self, name: &str) -> Option<&Arc<Peer>> {
        self.by_name.get(name)
    }

    /// Every peer.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Peer>> {
        self.by_name.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(id: u64, dialer: &str) -> (LinkHandle, super::super::queue::LinkDrain) {
        let (queue, rx) = super::super::queue::link_queue(1, 1);
        let link = LinkHandle {
            id,
            dialer: dialer.into(),
            queue,
            cancel: CancellationToken::new(),
        };
        (link, rx)
    }

    #[test]
    fn the_link_dialed_by_the_first_name_wins_and_a_redial_replaces() {
        let peer = Peer::new(&PeerConfig {
            name: "bob.os".into(),
            address: None,
            public_key: PublicKey([1; 32]),
            trust_pushes: false,
        });
        let (from_bob, _r1) = handle(1, "bob.os");
        let (from_alice, _r2) = handle(2, "alice.os");
        assert!(peer.register(from_bob.clone(), "alice.os"));
        assert!(peer.register(from_alice.clone(), "alice.os"));
        assert!(from_bob.cancel.is_cancelled());
        let (from_bob_again, _r3) = handle(3, "bob.os");
        assert!(!peer.register(from_bob_again, "alice.os"));
        let (from_alice_again, _r4) = handle(4, "alice.os");
        assert!(peer.register(from_alice_again, "alice.os"));
        assert!(from_alice.cancel.is_cancelled());
        peer.unregister(2);
        assert!(peer.is_up());
        peer.unregister(4);
        assert!(!peer.is_up());
    }
}
