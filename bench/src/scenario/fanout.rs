//! Fan-out: M subscribers and one publisher on the broadcast endpoint. The publisher keeps
//! at most W published frames not yet delivered to everyone, for T seconds; each frame
//! carries its sequence number and send time, so subscribers record delivery latency and
//! check that every frame arrived, in order.
//!
//! A session keeps its subscribers and publisher connected and publishes only while it is
//! given a slice of time, so the servers of one comparison can take their turns in short
//! slices, one after another.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::{histogram, Latency};
use crate::client::{next_data, Endpoint, Target};
use crate::procfs::{CpuMark, CpuSpans, CpuUse};

/// The sequence number of warm-up frames, sent until every subscriber has seen one.
const WARMUP: u64 = u64::MAX;
/// The sequence number of the frame that ends the run.
const END: u64 = u64::MAX - 1;

/// What to run.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct FanoutParams {
    /// Subscribers (the publisher is one more connection).
    pub subscribers: usize,
    /// Payload bytes per frame (at least 16: sequence number and send time).
    pub size: usize,
    /// Published frames not yet delivered to every subscriber, at most.
    pub window: u64,
    /// How long the publisher publishes.
    pub duration: Duration,
}

/// What was measured.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct FanoutResult {
    /// Frames delivered to subscribers per second.
    pub deliveries_per_s: f64,
    /// From publish to delivery.
    pub latency: Latency,
    /// Frames published.
    pub published: u64,
    /// Deliveries expected (published × subscribers) but missing or out of order.
    pub missing: u64,
    /// Each side's CPU while publishing and delivering.
    pub cpu: CpuUse,
}

#[derive(Debug)]
struct Shared {
    epoch: std::time::Instant,
    delivered: AtomicU64,
    ready: AtomicUsize,
    progress: Notify,
}

fn frame(seq: u64, size: usize, epoch: std::time::Instant) -> Message {
    let mut payload = vec![b'f'; size.max(16)];
    payload[..8].copy_from_slice(&seq.to_le_bytes());
    payload[8..16].copy_from_slice(&(epoch.elapsed().as_nanos() as u64).to_le_bytes());
    Message::Binary(payload.into())
}

fn parse(payload: &[u8]) -> Option<(u64, u64)> {
    let seq = u64::from_le_bytes(payload.get(..8)?.try_into().ok()?);
    let sent = u64::from_le_bytes(payload.get(8..16)?.try_into().ok()?);
    Some((seq, sent))
}

/// Runs the scenario with subscribers on `subscribers_at` and the publisher on
/// `publisher_at` (the same server, or two linked nodes), in one slice; `server_pids` are
/// the processes whose CPU is counted.
pub async fn run_across(
    subscribers_at: &Target,
    publisher_at: &Target,
    server_pids: &[u32],
    params: FanoutParams,
) -> anyhow::Result<FanoutResult> {
    let mut session = FanoutSession::open(
        std::slice::from_ref(subscribers_at),
        publisher_at,
        server_pids,
        Endpoint::Broadcast,
        params,
    )
    .await?;
    session.slice(params.duration).await?;
    session.finish().await
}

type Subscriber = tokio::task::JoinHandle<anyhow::Result<(hdrhistogram::Histogram<u64>, u64)>>;
type Publisher = SplitSink<crate::client::Ws, Message>;

/// Connected subscribers and publisher against one server (or node pair), publishing only
/// during slices.
#[derive(Debug)]
pub struct FanoutSession {
    params: FanoutParams,
    server_pids: Vec<u32>,
    shared: Arc<Shared>,
    subscribers: Vec<Subscriber>,
    sink: Publisher,
    drain: tokio::task::JoinHandle<()>,
    published: u64,
    delivered: u64,
    cpu: CpuSpans,
}

impl FanoutSession {
    /// Connects the subscribers (spread over `subscribers_at` in turn) and the publisher,
    /// all to `endpoint`, and waits until every subscriber has seen a warm-up frame. For
    /// [`Endpoint::Audience`] the publisher first names the subscribers' channels.
    pub async fn open(
        subscribers_at: &[Target],
        publisher_at: &Target,
        server_pids: &[u32],
        endpoint: Endpoint,
        params: FanoutParams,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(!subscribers_at.is_empty(), "no server for the subscribers");
        let shared = Arc::new(Shared {
            epoch: std::time::Instant::now(),
            delivered: AtomicU64::new(0),
            ready: AtomicUsize::new(0),
            progress: Notify::new(),
        });
        let mut subscribers = Vec::with_capacity(params.subscribers);
        let mut channels = Vec::with_capacity(params.subscribers);
        for n in 0..params.subscribers {
            let at = &subscribers_at[n % subscribers_at.len()];
            let (mut ws, channel) = at.connect_channel(endpoint).await?;
            channels.extend(channel);
            let shared = shared.clone();
            subscribers.push(tokio::spawn(async move {
                let mut latency = histogram();
                let mut expected = 0u64;
                let mut missing = 0u64;
                let mut seen_warmup = false;
                loop {
                    let payload = next_data(&mut ws).await?;
                    let (seq, sent) =
                        parse(&payload).ok_or_else(|| anyhow::anyhow!("short frame"))?;
                    match seq {
                        WARMUP => {
                            if !seen_warmup {
                                seen_warmup = true;
                                shared.ready.fetch_add(1, Ordering::AcqRel);
                                shared.progress.notify_one();
                            }
                        }
                        END => {
                            // Everything published came before this frame on the same channel.
                            missing += sent.saturating_sub(expected);
                            return Ok::<_, anyhow::Error>((latency, missing));
                        }
                        seq => {
                            if seq != expected {
                                missing += 1;
                            }
                            expected = seq + 1;
                            let now = shared.epoch.elapsed().as_nanos() as u64;
                            let _ = latency.record(now.saturating_sub(sent).max(1));
                            shared.delivered.fetch_add(1, Ordering::AcqRel);
                            shared.progress.notify_one();
                        }
                    }
                }
            }));
        }
        let publisher = publisher_at.connect(endpoint).await?;
        let (mut sink, mut own) = publisher.split();
        if endpoint == Endpoint::Audience {
            let named = crate::audience::Audience { audience: channels };
            sink.send(Message::text(serde_json::to_string(&named)?))
                .await?;
        }
        // The publisher is a subscriber too: read and drop what comes back to it.
        let drain = tokio::spawn(async move { while let Some(Ok(_)) = own.next().await {} });

        // Warm up until every subscriber is known to the server's broadcast.
        let wait_ready = Instant::now() + Duration::from_secs(30);
        // One warm-up frame per 200 ms at most, so the warm-up leaves no backlog behind.
        'warmup: while shared.ready.load(Ordering::Acquire) < params.subscribers {
            anyhow::ensure!(Instant::now() < wait_ready, "subscribers not ready in 30 s");
            sink.send(frame(WARMUP, params.size, shared.epoch)).await?;
            let next = Instant::now() + Duration::from_millis(200);
            while Instant::now() < next {
                if shared.ready.load(Ordering::Acquire) == params.subscribers {
                    break 'warmup;
                }
                let _ = tokio::time::timeout(Duration::from_millis(10), shared.progress.notified())
                    .await;
            }
        }
        Ok(Self {
            params,
            server_pids: server_pids.to_vec(),
            shared,
            subscribers,
            sink,
            drain,
            published: 0,
            delivered: 0,
            cpu: CpuSpans::default(),
        })
    }

    /// Publishes for `duration`, keeping at most the window undelivered, then waits
    /// (bounded) until everything published has been delivered.
    pub async fn slice(&mut self, duration: Duration) -> anyhow::Result<()> {
        self.slice_at(duration, None).await
    }

    /// [`FanoutSession::slice`], publishing at most `rate` frames a second when given.
    pub async fn slice_at(&mut self, duration: Duration, rate: Option<f64>) -> anyhow::Result<()> {
        let m = self.params.subscribers as u64;
        let shared = &self.shared;
        let start = CpuMark::now_of(&self.server_pids);
        let began = Instant::now();
        let end = began + duration;
        let first = self.published;
        let mut published = self.published;
        while Instant::now() < end {
            if let Some(rate) = rate {
                // The frame's time on the schedule; a late frame goes at once.
                let due = began + Duration::from_secs_f64((published - first) as f64 / rate);
                if due > Instant::now() {
                    tokio::time::sleep_until(due.min(end)).await;
                    continue;
                }
            }
            let floor = (published + 1).saturating_sub(self.params.window) * m;
            if shared.delivered.load(Ordering::Acquire) < floor {
                let _ = tokio::time::timeout(Duration::from_millis(10), shared.progress.notified())
                    .await;
                continue;
            }
            self.sink
                .send(frame(published, self.params.size, shared.epoch))
                .await?;
            published += 1;
        }
        let total = published * m;
        let drain_by = Instant::now() + Duration::from_secs(15);
        while shared.delivered.load(Ordering::Acquire) < total && Instant::now() < drain_by {
            let _ =
                tokio::time::timeout(Duration::from_millis(10), shared.progress.notified()).await;
        }
        let stop = CpuMark::now_of(&self.server_pids);
        self.cpu.add(&start, &stop);
        let delivered = shared.delivered.load(Ordering::Acquire);
        self.delivered += delivered.saturating_sub(self.published * m);
        self.published = published;
        Ok(())
    }

    /// Tells the subscribers how many frames there were and sums up every slice.
    pub async fn finish(mut self) -> anyhow::Result<FanoutResult> {
        let published = self.published;
        let mut end_frame = vec![b'f'; self.params.size.max(16)];
        end_frame[..8].copy_from_slice(&END.to_le_bytes());
        end_frame[8..16].copy_from_slice(&published.to_le_bytes());
        self.sink.send(Message::Binary(end_frame.into())).await?;

        let mut latency = histogram();
        let mut missing = 0u64;
        let wait_end = Instant::now() + Duration::from_secs(15);
        for mut subscriber in self.subscribers {
            match tokio::time::timeout_at(wait_end, &mut subscriber).await {
                Ok(Ok(Ok((h, lost)))) => {
                    latency.add(&h).map_err(|e| anyhow::anyhow!("{e:?}"))?;
                    missing += lost;
                }
                _ => {
                    subscriber.abort();
                    missing += published;
                }
            }
        }
        self.drain.abort();
        Ok(FanoutResult {
            deliveries_per_s: self.delivered as f64 / self.cpu.wall().as_secs_f64().max(1e-9),
            latency: Latency::of(&latency),
            published,
            missing,
            cpu: self.cpu.usage(),
        })
    }
}
