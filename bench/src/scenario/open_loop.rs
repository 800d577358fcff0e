//! Open-loop echo: C clients send S-byte frames on a fixed schedule, R frames/s in all,
//! whether or not the earlier ones have come back, and each round trip is timed from the
//! moment its frame was *due*, not from when it went out. A server that stalls for a
//! while therefore shows the stall in every frame that should have gone out meanwhile
//! (a closed loop would send nothing during the stall and count one slow round trip:
//! coordinated omission).
//!
//! The schedule is kept by a plain thread that sleeps to each due time (tokio's timer
//! ticks by the millisecond, too coarse for tens of thousands of frames a second) and
//! hands the due times to the clients in turn; a client writes its frame and queues the
//! due time for its reader, which matches replies to due times in order (echo keeps it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::{histogram, Latency};
use crate::client::{next_data, Endpoint, Target};
use crate::procfs::{CpuMark, CpuUse};

/// The pacing thread sleeps at most this long between looks at the clock.
const PACER_NAP: Duration = Duration::from_micros(200);
/// How long replies may take to come back once the schedule has ended.
const DRAIN: Duration = Duration::from_secs(10);

/// What to run.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct OpenLoopParams {
    /// Clients the frames are spread over, in turn.
    pub clients: usize,
    /// Frames per second, all clients together.
    pub rate: f64,
    /// Payload bytes per frame.
    pub size: usize,
    /// Frames due before this are sent but not counted.
    pub warmup: Duration,
    /// How long frames are due and counted after the warm-up.
    pub duration: Duration,
}

/// What was measured.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct OpenLoopResult {
    /// The rate asked for, frames/s.
    pub offered_per_s: f64,
    /// Counted replies per second of the counted time.
    pub achieved_per_s: f64,
    /// From each frame's due time to its reply.
    pub latency: Latency,
    /// Counted frames sent.
    pub sent: u64,
    /// Counted frames whose reply never came back within the drain time.
    pub missing: u64,
    /// Each side's CPU while frames were due.
    pub cpu: CpuUse,
}

/// A reader's latencies, its counted replies and when the last of them came.
type Reader =
    tokio::task::JoinHandle<anyhow::Result<(hdrhistogram::Histogram<u64>, u64, Option<Instant>)>>;

/// Runs open-loop echo against `target`, whose process is `server_pid`.
pub async fn run(
    target: &Target,
    server_pid: u32,
    params: OpenLoopParams,
) -> anyhow::Result<OpenLoopResult> {
    anyhow::ensure!(
        params.clients > 0 && params.rate > 0.0,
        "open-loop echo needs clients and a rate"
    );
    let payload = bytes::Bytes::from(vec![b'o'; params.size]);
    let mut sockets = Vec::with_capacity(params.clients);
    for _ in 0..params.clients {
        sockets.push(target.connect(Endpoint::Echo).await?);
    }
    let start = Instant::now() + Duration::from_millis(50);
    let count_from = start + params.warmup;
    let end = count_from + params.duration;
    let sent = Arc::new(AtomicU64::new(0));
    let mut ticks = Vec::with_capacity(params.clients);
    let mut readers: Vec<Reader> = Vec::with_capacity(params.clients);
    let mut writers = Vec::with_capacity(params.clients);
    for ws in sockets {
        let (mut sink, mut stream) = ws.split();
        let (tick, mut due) = mpsc::unbounded_channel::<Instant>();
        let (queue, mut queued) = mpsc::unbounded_channel::<Instant>();
        ticks.push(tick);
        let payload = payload.clone();
        let sent = sent.clone();
        writers.push(tokio::spawn(async move {
            while let Some(at) = due.recv().await {
                // Queued before it is written, so the reply never comes before its due time.
                if queue.send(at).is_err() {
                    break;
                }
                sink.send(Message::Binary(payload.clone())).await?;
                if at >= count_from {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<_, anyhow::Error>(sink)
        }));
        readers.push(tokio::spawn(async move {
            let mut latency = histogram();
            let mut received = 0u64;
            let mut last = None;
            while let Some(at) = queued.recv().await {
                next_data(&mut stream).await?;
                if at >= count_from {
                    let now = Instant::now();
                    let _ = latency.record(now.duration_since(at).as_nanos().max(1) as u64);
                    received += 1;
                    last = Some(now);
                }
            }
            Ok((latency, received, last))
        }));
    }
    let period = Duration::from_secs_f64(1.0 / params.rate);
    let pacer = std::thread::spawn(move || pace(&ticks, start, end, period));

    tokio::time::sleep_until(count_from.into()).await;
    let from = CpuMark::now(server_pid);
    tokio::time::sleep_until(end.into()).await;
    let to = CpuMark::now(server_pid);
    // The pacer ends at `end`; joining it here would block the runtime, so wait for the
    // writers, which end once it has dropped its senders.
    let mut sinks = Vec::with_capacity(writers.len());
    for writer in writers {
        sinks.push(writer.await??);
    }
    pacer
        .join()
        .map_err(|_| anyhow::anyhow!("the pacing thread panicked"))?;
    let sent = sent.load(Ordering::Relaxed);
    let mut latency = histogram();
    let mut received = 0u64;
    let mut last_reply = end;
    let drain_by = tokio::time::Instant::now() + DRAIN;
    for mut reader in readers {
        match tokio::time::timeout_at(drain_by, &mut reader).await {
            Ok(Ok(Ok((h, n, last)))) => {
                latency.add(&h).map_err(|e| anyhow::anyhow!("{e:?}"))?;
                received += n;
                last_reply = last_reply.max(last.unwrap_or(end));
            }
            Ok(Ok(Err(e))) => return Err(e),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => reader.abort(),
        }
    }
    drop(sinks);
    let counted = last_reply.duration_since(count_from);
    Ok(OpenLoopResult {
        offered_per_s: params.rate,
        achieved_per_s: received as f64 / counted.as_secs_f64().max(1e-9),
        latency: Latency::of(&latency),
        sent,
        missing: sent.saturating_sub(received),
        cpu: from.until(&to),
    })
}

/// Hands out due times from `start` to `end`, one per `period`, to the clients in turn,
/// each as soon as it is due.
fn pace(ticks: &[mpsc::UnboundedSender<Instant>], start: Instant, end: Instant, period: Duration) {
    let mut next = start;
    let mut turn = 0usize;
    while next < end {
        let now = Instant::now();
        if next > now {
            std::thread::sleep((next - now).min(PACER_NAP));
            continue;
        }
        while next <= now && next < end {
            // A client whose writer failed has dropped its receiver; the others go on.
            let _ = ticks[turn].send(next);
            turn = (turn + 1) % ticks.len();
            next += period;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_hands_every_due_time_out_once_in_turn() {
        let (a, mut to_a) = mpsc::unbounded_channel();
        let (b, mut to_b) = mpsc::unbounded_channel();
        let start = Instant::now();
        let period = Duration::from_millis(2);
        pace(&[a, b], start, start + period * 5, period);
        let drain = |rx: &mut mpsc::UnboundedReceiver<Instant>| {
            std::iter::from_fn(|| rx.try_recv().ok())
                .map(|at| at.duration_since(start))
                .collect::<Vec<_>>()
        };
        assert_eq!(drain(&mut to_a), [Duration::ZERO, period * 2, period * 4]);
        assert_eq!(drain(&mut to_b), [period, period * 3]);
    }
}
