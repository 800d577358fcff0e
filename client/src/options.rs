//! How a connection behaves: timeouts, keepalive pings, reconnection with exponential
//! backoff and full jitter, the other URLs it may move to, and which certificates `wss://`
//! trusts.

use std::time::Duration;

use rand::Rng;

/// Reconnection after a lost connection: attempt `n` waits a random time between zero and
/// `min(max, initial × 2ⁿ⁻¹)` ("full jitter"), so many clients that lost the same server do
/// not come back at the same moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first wait.
    pub initial: Duration,
    /// The largest ceiling.
    pub max: Duration,
    /// Give up after this many failed attempts in a row; `None` tries forever.
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// The ceiling of attempt `attempt` (counting from 1).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// A random wait for attempt `attempt`, between zero and its ceiling.
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempt);
        if ceiling.is_zero() {
            return ceiling;
        }
        Duration::from_nanos(
            rng.gen_range(0..=u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX)),
        )
    }
}

/// Settings of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// How long opening the socket and registering may take.
    pub connect_timeout: Duration,
    /// How often to ping the server; a connection that hears nothing for twice this long is
    /// counted as lost.
    pub ping_interval: Duration,
    /// Reconnect after a lost connection; `None` ends the connection instead.
    pub reconnect: Option<Backoff>,
    /// More URLs of the same node (its other instances, say), after the one given to
    /// `connect`. The connection opens to the first of them all that registers, trying each
    /// once in order; when its socket is lost, every reconnection attempt moves on to the
    /// next URL round the list (with the backoff's wait before each), so a dead instance is
    /// tried only once per round. A URL that refuses for good is left out until the
    /// connection registers again; when every URL has refused, the connection ends.
    pub other_urls: Vec<String>,
    /// Ask for an encrypted channel (the server refuses on plain `ws://`).
    pub encrypted: bool,
    /// PEM text of CA certificates to trust for `wss://`, besides Mozilla's roots: for a
    /// node with a private or self-signed certificate (a self-signed certificate is its
    /// own CA). Not read for `ws://`.
    pub ca_pem: Option<Vec<u8>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            reconnect: Some(Backoff::default()),
            other_urls: Vec::new(),
            encrypted: false,
            ca_pem: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            max_attempts: None,
        };
        let ceilings: Vec<u128> = (1..=6).map(|n| backoff.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.ceiling(1000), Duration::from_secs(1));
    }

    #[test]
    fn delays_are_jittered_within_the_ceiling() {
        let backoff = Backoff::default();
        let mut rng = rand::thread_rng();
        let delays: Vec<Duration> = (0..200).map(|_| backoff.delay(3, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(1)));
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 100, "full jitter spreads the waits");
    }
}
