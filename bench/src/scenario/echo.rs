//! Echo: C clients each keep one S-byte frame in flight; after a warm-up, for T seconds,
//! count round trips and record their latency.
//!
//! A session keeps its clients connected and runs them only while it is given a slice of
//! time, so the servers of one comparison can take their turns in short slices, one after
//! another, and a machine whose speed drifts over seconds slows each of them alike.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{histogram, Latency};
use crate::client::{round_trip, Endpoint, Target};
use crate::procfs::{CpuMark, CpuSpans, CpuUse};

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

/// What the clients are asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Send nothing.
    Paused,
    /// Send, without counting (the warm-up at the start of a slice).
    Warm,
    /// Send and count.
    Count,
    /// Stop and hand back the latencies.
    Done,
}

type Client = JoinHandle<anyhow::Result<hdrhistogram::Histogram<u64>>>;

/// Connected echo clients against one server, idle between slices.
#[derive(Debug)]
pub struct EchoSession {
    server_pid: u32,
    phase: watch::Sender<Phase>,
    counted: Arc<AtomicU64>,
    clients: Vec<Client>,
    cpu: CpuSpans,
}

impl EchoSession {
    /// Connects `params.clients` clients to `target`, whose process is `server_pid`.
    pub async fn open(
        target: &Target,
        server_pid: u32,
        params: EchoParams,
    ) -> anyhow::Result<Self> {
        let (phase, watching) = watch::channel(Phase::Paused);
        let counted = Arc::new(AtomicU64::new(0));
        let payload = bytes::Bytes::from(vec![b'e'; params.size]);
        let mut clients = Vec::with_capacity(params.clients);
        for _ in 0..params.clients {
            let mut ws = target.connect(Endpoint::Echo).await?;
            let mut watching = watching.clone();
            let payload = payload.clone();
            let counted = counted.clone();
            clients.push(tokio::spawn(async move {
                let mut latency = histogram();
                loop {
                    let now = *watching.borrow_and_update();
                    match now {
                        Phase::Done => return Ok(latency),
                        Phase::Paused => {
                            if watching.changed().await.is_err() {
                                return Ok(latency);
                            }
                        }
                        Phase::Warm | Phase::Count => {
                            let sent = Instant::now();
                            round_trip(&mut ws, &payload).await?;
                            if now == Phase::Count {
                                let _ = latency.record(sent.elapsed().as_nanos() as u64);
                                counted.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }));
        }
        Ok(Self {
            server_pid,
            phase,
            counted,
            clients,
            cpu: CpuSpans::default(),
        })
    }

    /// Runs the clients for `warm` uncounted, then `count` counted, then pauses them once
    /// their last round trips are back.
    pub async fn slice(&mut self, warm: Duration, count: Duration) {
        let _ = self.phase.send(Phase::Warm);
        tokio::time::sleep(warm).await;
        let start = CpuMark::now(self.server_pid);
        let _ = self.phase.send(Phase::Count);
        tokio::time::sleep(count).await;
        let _ = self.phase.send(Phase::Paused);
        let stop = CpuMark::now(self.server_pid);
        self.cpu.add(&start, &stop);
        // The frames in flight come back within a round trip; let them, so the next
        // server's slice starts on a quiet machine.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// Stops the clients and sums up every slice.
    pub async fn finish(self) -> anyhow::Result<EchoResult> {
        let _ = self.phase.send(Phase::Done);
        let mut latency = histogram();
        for client in self.clients {
            let h = client.await??;
            latency.add(&h).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        let counted = self.counted.load(Ordering::Relaxed);
        Ok(EchoResult {
            msgs_per_s: counted as f64 / self.cpu.wall().as_secs_f64().max(1e-9),
            rtt: Latency::of(&latency),
            cpu: self.cpu.usage(),
        })
    }
}
