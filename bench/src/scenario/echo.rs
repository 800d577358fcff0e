//! Echo: C clients each keep one S-byte frame in flight; after a warm-up, for T seconds,
//! count round trips and record their latency.

use std::time::Duration;

use tokio::time::Instant;

use super::{histogram, Latency};
use crate::client::{round_trip, Endpoint, Target};
use crate::procfs::{CpuMark, CpuUse};

/// What to run.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct EchoParams {
    /// Clients, each with one frame in flight.
    pub clients: usize,
    /// Payload bytes per frame.
    pub size: usize,
    /// Round trips before this are not counted.
    pub warmup: Duration,
    /// How long round trips are counted.
    pub duration: Duration,
}

/// What was measured.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct EchoResult {
    /// Round trips per second, all clients together.
    pub msgs_per_s: f64,
    /// Round-trip latency.
    pub rtt: Latency,
    /// Each side's CPU while counting.
    pub cpu: CpuUse,
}

/// Runs the echo scenario against `target`, whose process is `server_pid`.
pub async fn run(
    target: &Target,
    server_pid: u32,
    params: EchoParams,
) -> anyhow::Result<EchoResult> {
    let mut sockets = Vec::with_capacity(params.clients);
    for _ in 0..params.clients {
        sockets.push(target.connect(Endpoint::Echo).await?);
    }
    let payload = bytes::Bytes::from(vec![b'e'; params.size]);
    let counting = Instant::now() + params.warmup;
    let end = counting + params.duration;
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram();
            let mut count = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                round_trip(&mut ws, &payload).await?;
                if sent >= counting {
                    let _ = latency.record(sent.elapsed().as_nanos() as u64);
                    count += 1;
                }
            }
            Ok::<_, anyhow::Error>((count, latency))
        }));
    }
    tokio::time::sleep_until(counting).await;
    let start = CpuMark::now(server_pid);
    tokio::time::sleep_until(end).await;
    let stop = CpuMark::now(server_pid);
    let mut total = 0u64;
    let mut latency = histogram();
    for task in tasks {
        let (count, h) = task.await??;
        total += count;
        latency.add(&h).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    Ok(EchoResult {
        msgs_per_s: total as f64 / params.duration.as_secs_f64(),
        rtt: Latency::of(&latency),
        cpu: start.until(&stop),
    })
}
