//! The scenarios. Each takes a running server and its parameters, is bounded in time and
//! count, and returns a plain, serializable result.
//!
//! - [`echo`]: C clients, one S-byte frame in flight each: messages/s and round-trip latency.
//! - [`idle`]: N connections that did one round trip and then sit: RSS per connection and
//!   connect rate.
//! - [`fanout`]: M subscribers and a publisher: deliveries/s, delivery latency, and a check
//!   that every frame reached every subscriber.
//! - [`net`]: the same across two linked nodes: pushes/s from a process on one node to
//!   channels on the other.
//! - [`mixed`]: the fan-out's broadcast and the echo's clients on one server at once: what
//!   each does to the other.
//! - [`idle_max`]: idle at the server's open-file limit, from several worker processes.
//! - [`chat`]: M members of `chat:chat:sys` and publishers: messages/s stored and shown to
//!   everyone, and latency from say to delivery.
//! - [`ceiling`]: the loopback ceiling under the chat: writes/s one core hands to the room's
//!   sockets with nothing else to do, and so the most any server could show the room.
//! - [`open_loop`]: echo at a fixed offered rate, latency timed from each frame's due time.
//! - [`cluster`]: one node as three instances on NATS against the same node as one process:
//!   deliveries/s, latency, and CPU per delivery across instances and within one.
//! - [`soak`]: two linked nodes under churn, chat, slow readers and a flapping link for
//!   minutes, sampled over time (run only when asked for).

pub mod ceiling;
pub mod chat;
pub mod cluster;
pub mod echo;
pub mod fanout;
pub mod idle;
pub mod idle_max;
pub mod mixed;
pub mod net;
pub mod open_loop;
pub mod soak;

use hdrhistogram::Histogram;

/// A latency histogram in nanoseconds, 1 ns to 60 s, three significant figures.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3)
        .unwrap_or_else(|_| unreachable!("valid bounds"))
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
}

impl Latency {
    /// Percentiles of `h` (recorded in nanoseconds).
    pub fn of(h: &Histogram<u64>) -> Self {
        let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Self {
            p50_us: us(0.5),
            p99_us: us(0.99),
            p999_us: us(0.999),
        }
    }
}
