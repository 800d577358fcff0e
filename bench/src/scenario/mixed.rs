//! Mixed: a broadcast and echo clients on one server at once. The fan-out scenario's
//! subscribers and publisher keep its window full while the echo scenario's clients make
//! their round trips, so the report shows what a busy broadcast does to everyone else's
//! latency on the same server, and what the other traffic takes from the broadcast.
//!
//! The publisher publishes at a fixed rate (within the fan-out's window) through the echo
//! clients' warm-up and counted time; the echo clients count only while it does. A fixed
//! rate gives every server, and the generator's subscribers, the same broadcast to carry,
//! so the echo figures compare: with the window alone a faster server would take on more
//! broadcast, and the generator's core would have less time for the echo clients.

use std::time::Duration;

use super::echo::{EchoParams, EchoResult, EchoSession};
use super::fanout::{FanoutParams, FanoutResult, FanoutSession};
use crate::client::{Endpoint, Target};

/// What was measured: each side's result, taken together.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct MixedResult {
    /// The echo clients' round trips while the broadcast ran.
    pub echo: EchoResult,
    /// The broadcast's deliveries while the echo clients ran.
    pub fanout: FanoutResult,
}

/// A broadcast's subscribers and publisher, and echo clients, connected to one server.
#[derive(Debug)]
pub struct MixedSession {
    echo: EchoSession,
    fanout: FanoutSession,
    rate: f64,
}

impl MixedSession {
    /// Connects the broadcast (`fanout`, published at `rate` frames a second) and the echo
    /// clients (`echo`) to `target`, whose process is `server_pid`.
    pub async fn open(
        target: &Target,
        server_pid: u32,
        echo: EchoParams,
        fanout: FanoutParams,
        rate: f64,
    ) -> anyhow::Result<Self> {
        let subscribers_at = std::slice::from_ref(target);
        let fanout = FanoutSession::open(
            subscribers_at,
            target,
            &[server_pid],
            Endpoint::Broadcast,
            fanout,
        )
        .await?;
        let echo = EchoSession::open(target, server_pid, echo).await?;
        Ok(Self { echo, fanout, rate })
    }

    /// Publishes for `warm + count` while the echo clients warm up for `warm` and are
    /// counted for `count`.
    pub async fn slice(&mut self, warm: Duration, count: Duration) -> anyhow::Result<()> {
        let (published, ()) = tokio::join!(
            self.fanout.slice_at(warm + count, Some(self.rate)),
            self.echo.slice(warm, count)
        );
        published
    }

    /// Stops both and sums up every slice.
    pub async fn finish(self) -> anyhow::Result<MixedResult> {
        Ok(MixedResult {
            fanout: self.fanout.finish().await?,
            echo: self.echo.finish().await?,
        })
    }
}
