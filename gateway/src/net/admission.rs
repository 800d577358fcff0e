//! Which inbound connections may run a handshake, so that a flood of connections to the net
//! port, from one address or from many, cannot keep a configured peer from linking.
//!
//! Every connection the listener accepts holds a slot until its handshake ends. Three rules
//! bound what a flood can hold:
//! - **Per address.** At most [`PER_ADDRESS`] handshakes may be pending from one address (an
//!   IPv4 address, or an IPv6 /64, which one host usually holds whole). A connection past that
//!   is closed at once; a real peer dials one connection at a time.
//! - **The first message at once.** A dialing peer sends the handshake's first message (a
//!   length and a 32-byte ephemeral key) the moment it connects. A connection that has not
//!   sent it within [`FIRST_MESSAGE_WAIT`] is closed; the rest of the handshake has the
//!   configured `handshake_timeout`.
//! - **Peers' addresses kept apart.** The listener has [`SHARED`] slots for connections from
//!   anywhere. A connection from the IP address a configured peer is listed at (`address =
//!   "IP:PORT"`) does not take one of them, so other addresses that fill the shared slots do
//!   not keep that peer out; it is bound by the per-address rule only. A peer listed without
//!   an address, or by host name, shares the slots with everyone.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::peers::Peers;

/// Handshakes that may be pending at once from addresses no configured peer is listed at.
pub const SHARED: usize = 64;

/// Handshakes that may be pending at once from one address.
pub const PER_ADDRESS: usize = 4;

/// How long a new connection has to send the handshake's first message (the handshake
/// enforces it: [`super::handshake::respond`]).
pub const FIRST_MESSAGE_WAIT: Duration = Duration::from_secs(2);

/// Why an inbound connection was closed before its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Its address already has [`PER_ADDRESS`] handshakes pending.
    #[error("{PER_ADDRESS} handshakes already in progress from this address")]
    AddressBusy,
    /// Every shared slot is taken.
    #[error("{SHARED} handshakes already in progress")]
    Full,
}

/// The listener's slots.
#[derive(Debug)]
pub struct Admission {
    shared: Arc<Semaphore>,
    pending: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Default for Admission {
    fn default() -> Self {
        Self {
            shared: Arc::new(Semaphore::new(SHARED)),
            pending: Arc::default(),
        }
    }
}

impl Admission {
    /// A slot for a connection from `ip`, held until the returned value is dropped.
    pub fn admit(&self, ip: IpAddr, peers: &Peers) -> Result<Slot, Refusal> {
        let source = source_of(ip);
        let from_peer = is_peer_address(source, peers);
        let mut pending = self.pending.lock();
        if pending
            .get(&source)
            .is_some_and(|count| *count >= PER_ADDRESS)
        {
            return Err(Refusal::AddressBusy);
        }
        let shared = if from_peer {
            None
        } else {
            let permit = self.shared.clone().try_acquire_owned();
            Some(permit.map_err(|_| Refusal::Full)?)
        };
        *pending.entry(source).or_default() += 1;
        Ok(Slot {
            source,
            pending: self.pending.clone(),
            _shared: shared,
        })
    }
}

/// A pending handshake's place; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
    source: IpAddr,
    pending: Arc<Mutex<HashMap<IpAddr, usize>>>,
    _shared: Option<OwnedSemaphorePermit>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut pending = self.pending.lock();
        if let Some(count) = pending.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                pending.remove(&self.source);
            }
        }
    }
}

/// What counts as one address: an IPv4 address, or the /64 an IPv6 address is in.
fn source_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// Whether a configured peer is listed at an IP address that is `source`.
fn is_peer_address(source: IpAddr, peers: &Peers) -> bool {
    peers.iter().any(|peer| {
        let address = peer.watch_address();
        let listed = address.borrow();
        listed
            .as_deref()
            .and_then(|a| a.parse::<SocketAddr>().ok())
            .is_some_and(|a| source_of(a.ip()) == source)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{PeerConfig, PublicKey};

    fn peers_at(address: &str) -> Peers {
        Peers::new(&[PeerConfig {
            name: "bob.os".into(),
            address: Some(address.into()),
            public_key: PublicKey([7; 32]),
            trust_pushes: false,
        }])
    }

    #[test]
    fn one_address_gets_a_few_slots_and_others_are_not_affected() {
        let admission = Admission::default();
        let peers = Peers::default();
        let flood: IpAddr = [10, 0, 0, 3].into();
        let slots: Vec<_> = (0..PER_ADDRESS)
            .map(|_| admission.admit(flood, &peers).unwrap())
            .collect();
        assert_eq!(
            admission.admit(flood, &peers).unwrap_err(),
            Refusal::AddressBusy
        );
        admission.admit([10, 0, 0, 4].into(), &peers).unwrap();
        drop(slots);
        admission.admit(flood, &peers).unwrap();
    }

    #[test]
    fn an_ipv6_host_is_one_address_by_its_slash_64() {
        let admission = Admission::default();
        let peers = Peers::default();
        let _slots: Vec<_> = (1..=PER_ADDRESS as u16)
            .map(|n| {
                let ip = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, n);
                admission.admit(ip.into(), &peers).unwrap()
            })
            .collect();
        let same_host = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 9, 9, 9, 9);
        assert_eq!(
            admission.admit(same_host.into(), &peers).unwrap_err(),
            Refusal::AddressBusy
        );
        let next_host = Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1);
        admission.admit(next_host.into(), &peers).unwrap();
    }

    #[test]
    fn a_peers_listed_address_is_admitted_when_the_shared_slots_are_full() {
        let admission = Admission::default();
        let peers = peers_at("192.0.2.7:9001");
        let _crowd: Vec<_> = (0..SHARED)
            .map(|n| {
                let ip: IpAddr = [10, 1, (n / PER_ADDRESS) as u8, 1].into();
                admission.admit(ip, &peers).unwrap()
            })
            .collect();
        assert_eq!(
            admission.admit([10, 2, 0, 1].into(), &peers).unwrap_err(),
            Refusal::Full
        );
        let _peer = admission.admit([192, 0, 2, 7].into(), &peers).unwrap();
        // Its address is still held to the per-address rule.
        let _more: Vec<_> = (1..PER_ADDRESS)
            .map(|_| admission.admit([192, 0, 2, 7].into(), &peers).unwrap())
            .collect();
        assert_eq!(
            admission.admit([192, 0, 2, 7].into(), &peers).unwrap_err(),
            Refusal::AddressBusy
        );
    }
}
