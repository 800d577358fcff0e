//! Idle: open N connections (registered, for Switchboard), each doing one round trip so the
//! server has set it up fully, then read how much the server's RSS grew per connection.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio::time::Instant;

use crate::client::{round_trip, Endpoint, Target, Ws};
use crate::procfs::rss_bytes;

/// What to run.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct IdleParams {
    /// Connections to hold at once.
    pub connections: usize,
    /// Connection attempts in flight at once.
    pub concurrency: usize,
}

/// What was measured.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct IdleResult {
    /// Connections that were open at once (fewer than asked when some failed).
    pub held: usize,
    /// Connections that failed.
    pub failed: usize,
    /// Server RSS growth per held connection, in bytes.
    pub rss_per_conn: f64,
    /// Server RSS with one connection open.
    pub rss_before: u64,
    /// Server RSS with every connection open.
    pub rss_after: u64,
    /// Connections opened (and set up) per second.
    pub connects_per_s: f64,
}

async fn open(target: &Target) -> anyhow::Result<Ws> {
    let mut ws = target.connect(Endpoint::Echo).await?;
    round_trip(&mut ws, &bytes::Bytes::from_static(b"idle")).await?;
    Ok(ws)
}

/// Connections opened by [`open_many`].
#[derive(Debug)]
pub struct Opened {
    /// The sockets that are open, registered and past one round trip.
    pub held: Vec<Ws>,
    /// How many failed.
    pub failed: usize,
    /// The first failure, if any.
    pub first_error: Option<anyhow::Error>,
    /// How long opening them all took.
    pub elapsed: Duration,
}

/// Opens `count` connections to `target`, `concurrency` at a time, each past one round trip.
pub async fn open_many(target: &Target, count: usize, concurrency: usize) -> Opened {
    let started = Instant::now();
    let results: Vec<anyhow::Result<Ws>> = stream::iter(0..count)
        .map(|_| async { tokio::time::timeout(Duration::from_secs(20), open(target)).await? })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut opened = Opened {
        held: Vec::with_capacity(results.len()),
        failed: 0,
        first_error: None,
        elapsed,
    };
    for result in results {
        match result {
            Ok(ws) => opened.held.push(ws),
            Err(error) => {
                opened.failed += 1;
                opened.first_error.get_or_insert(error);
            }
        }
    }
    opened
}

/// Runs the idle scenario against `target`, whose process is `server_pid`.
pub async fn run(
    target: &Target,
    server_pid: u32,
    params: IdleParams,
) -> anyhow::Result<IdleResult> {
    // One connection first, so lazily built server state is not charged to the N.
    let first = open(target).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = rss_bytes(server_pid)?;
    let Opened {
        held,
        failed,
        first_error,
        elapsed,
    } = open_many(target, params.connections, params.concurrency).await;
    if let Some(error) = first_error {
        eprintln!("idle: {failed} connections failed; the first: {error:#}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_bytes(server_pid)?;
    let count = held.len();
    drop(held);
    drop(first);
    // Let the server see the closes before the next scenario.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(IdleResult {
        held: count,
        failed,
        rss_per_conn: rss_after.saturating_sub(rss_before) as f64 / count.max(1) as f64,
        rss_before,
        rss_after,
        connects_per_s: count as f64 / elapsed.as_secs_f64(),
    })
}
