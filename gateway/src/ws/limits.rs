//! Who may hold a WebSocket: the node's cap on open connections, and per client address a
//! cap on its open connections and a token bucket for its new ones (crate `governor`).
//!
//! A socket asks once, right after its upgrade; what it is given ([`Admitted`]) holds its
//! places until the socket's task ends. A refusal is counted by kind ([`RefusalCounts`])
//! and told to the client like any other ([`Refusal`]). Limits that are off (0) cost nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota};
use parking_lot::Mutex;
use process_lib::WsErrorCode;
use tokio::sync::OwnedSemaphorePermit;

use super::refusal::Refusal;
use crate::config::Config;
use crate::runtime::Runtime;

/// Addresses the rate limiter keeps before it forgets those whose buckets are full again.
const SWEEP_AT: usize = 4096;

/// The per-address limits and what they refused.
#[derive(Debug)]
pub struct ConnectionLimits {
    per_address: Option<PerAddress>,
    rate: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Refusals so far, by kind.
    pub refused: RefusalCounts,
}

/// Open connections per address, under a cap.
#[derive(Debug)]
struct PerAddress {
    cap: u32,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

/// How many sockets each limit refused since the node started.
#[derive(Debug, Default)]
pub struct RefusalCounts {
    /// `over_capacity`: the node held `max_connections`.
    pub over_capacity: AtomicU64,
    /// `too_many_connections_from_address`: the address held `max_connections_per_address`.
    pub too_many_from_address: AtomicU64,
    /// `connection_rate_exceeded`: the address spent its bucket of new connections.
    pub rate_exceeded: AtomicU64,
}

/// A copy of [`RefusalCounts`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefusalSnapshot {
    /// See [`RefusalCounts::over_capacity`].
    pub over_capacity: u64,
    /// See [`RefusalCounts::too_many_from_address`].
    pub too_many_from_address: u64,
    /// See [`RefusalCounts::rate_exceeded`].
    pub rate_exceeded: u64,
}

impl RefusalCounts {
    /// The counts now.
    pub fn snapshot(&self) -> RefusalSnapshot {
        RefusalSnapshot {
            over_capacity: self.over_capacity.load(Ordering::Relaxed),
            too_many_from_address: self.too_many_from_address.load(Ordering::Relaxed),
            rate_exceeded: self.rate_exceeded.load(Ordering::Relaxed),
        }
    }
}

/// A socket's places under the limits, given back when dropped.
#[derive(Debug)]
pub struct Admitted {
    _node: OwnedSemaphorePermit,
    _address: Option<AddressSlot>,
}

/// One of an address's open connections.
#[derive(Debug)]
struct AddressSlot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock();
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl ConnectionLimits {
    /// The limits `config` asks for.
    pub fn new(config: &Config) -> Self {
        Self {
            per_address: (config.max_connections_per_address > 0).then(|| PerAddress {
                cap: config.max_connections_per_address,
                open: Arc::default(),
            }),
            rate: NonZeroU32::new(config.connections_per_second_per_address)
                .map(|rate| DefaultKeyedRateLimiter::keyed(Quota::per_second(rate))),
            refused: RefusalCounts::default(),
        }
    }

    /// Whether `ip` may open a new connection now: it spends one token of its bucket.
    fn check_rate(&self, ip: IpAddr) -> Result<(), Refusal> {
        let Some(rate) = &self.rate else {
            return Ok(());
        };
        if rate.len() >= SWEEP_AT {
            rate.retain_recent();
        }
        rate.check_key(&ip).map_err(|_| {
            self.refused.rate_exceeded.fetch_add(1, Ordering::Relaxed);
            Refusal::new(
                WsErrorCode::ConnectionRateExceeded,
                "your address is opening connections faster than this node allows; wait a moment and retry",
            )
        })
    }

    /// One of `ip`'s places, if it has one left.
    fn take_address_slot(&self, ip: IpAddr) -> Result<Option<AddressSlot>, Refusal> {
        let Some(per_address) = &self.per_address else {
            return Ok(None);
        };
        let mut open = per_address.open.lock();
        let count = open.entry(ip).or_insert(0);
        if *count >= per_address.cap {
            drop(open);
            self.refused
                .too_many_from_address
                .fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::new(
                WsErrorCode::TooManyConnectionsFromAddress,
                format!(
                    "your address holds {} connections, as many as this node allows one address; close one first",
                    per_address.cap
                ),
            ));
        }
        *count += 1;
        Ok(Some(AddressSlot {
            ip,
            open: per_address.open.clone(),
        }))
    }
}

/// Admits a socket from `peer` (unknown only for in-process test requests, which no
/// per-address limit applies to): its address's rate, its address's open connections, then
/// the node's. The first limit it meets refuses it.
pub fn admit(rt: &Runtime, peer: Option<IpAddr>) -> Result<Admitted, Refusal> {
    let limits = &rt.limits;
    let address = match peer {
        Some(ip) => {
            limits.check_rate(ip)?;
            limits.take_address_slot(ip)?
        }
        None => None,
    };
    let node = rt.connections.clone().try_acquire_owned().map_err(|_| {
        limits.refused.over_capacity.fetch_add(1, Ordering::Relaxed);
        Refusal::new(
            WsErrorCode::OverCapacity,
            "this node holds as many connections as it allows; try again later",
        )
    })?;
    Ok(Admitted {
        _node: node,
        _address: address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_address: u32, per_second: u32) -> ConnectionLimits {
        let mut config = Config::new("unused");
        config.max_connections_per_address = per_address;
        config.connections_per_second_per_address = per_second;
        ConnectionLimits::new(&config)
    }

    #[test]
    fn an_address_holds_at_most_its_cap_and_gets_a_place_back_when_one_closes() {
        let limits = limits(2, 0);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let first = limits.take_address_slot(a).expect("first");
        let _second = limits.take_address_slot(a).expect("second");
        let refusal = limits.take_address_slot(a).expect_err("third");
        assert_eq!(refusal.code, WsErrorCode::TooManyConnectionsFromAddress);
        assert!(limits.take_address_slot(b).is_ok(), "another address");
        drop(first);
        assert!(limits.take_address_slot(a).is_ok(), "a place came back");
        assert_eq!(limits.refused.snapshot().too_many_from_address, 1);
    }

    #[test]
    fn an_address_past_its_bucket_is_refused_and_others_are_not() {
        let limits = limits(0, 3);
        let a: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..3 {
            limits.check_rate(a).expect("within the bucket");
        }
        let refusal = limits.check_rate(a).expect_err("past it");
        assert_eq!(refusal.code, WsErrorCode::ConnectionRateExceeded);
        assert!(limits.check_rate([127, 0, 0, 2].into()).is_ok());
        assert_eq!(limits.refused.snapshot().rate_exceeded, 1);
    }

    #[test]
    fn limits_that_are_off_keep_no_state() {
        let limits = limits(0, 0);
        let a: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..1000 {
            assert!(limits.check_rate(a).is_ok());
            assert!(limits.take_address_slot(a).expect("no cap").is_none());
        }
    }
}
