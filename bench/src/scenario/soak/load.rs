//! The soak's clients, each a loop that runs until the soak's end: echo clients that
//! connect, register, do a few round trips and close, over and over; chat members that say
//! something now and then and time their own messages; slow readers that stop reading and
//! must be cut with `slow_consumer` / 1008; and a publisher on the second node whose frames
//! cross the node-to-node link to subscribers on the first.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::sync::watch;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{next_data, round_trip, Endpoint, Target, Ws};
use crate::scenario::histogram;

/// How long any one step (connect, round trip, say) may take before it counts as an error.
const STEP: Duration = Duration::from_secs(10);
/// Errors kept word for word; the rest are only counted.
const KEPT_ERRORS: usize = 20;

/// Counters every client adds to, read by the sampler.
#[derive(Debug)]
pub struct Tally {
    /// Channels the generator holds registered right now.
    pub alive: AtomicI64,
    /// Echo connections opened, used and closed.
    pub cycles: AtomicU64,
    /// Echo round-trip latency since the last sample (ns).
    pub echo: Mutex<Histogram<u64>>,
    /// Chat say-to-own-message latency since the last sample (ns).
    pub chat: Mutex<Histogram<u64>>,
    /// Says shown back to their sender.
    pub chat_seen: AtomicU64,
    /// Slow readers cut with `slow_consumer` / 1008, as they must be.
    pub slow_cut: AtomicU64,
    /// Frames published on the second node.
    pub net_published: AtomicU64,
    /// Frames delivered across the link to subscribers on the first node.
    pub net_delivered: AtomicU64,
    /// Errors of any kind (slow readers' expected closes are not errors).
    pub errors: AtomicU64,
    kept: Mutex<Vec<String>>,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            alive: AtomicI64::new(0),
            cycles: AtomicU64::new(0),
            echo: Mutex::new(histogram()),
            chat: Mutex::new(histogram()),
            chat_seen: AtomicU64::new(0),
            slow_cut: AtomicU64::new(0),
            net_published: AtomicU64::new(0),
            net_delivered: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            kept: Mutex::new(Vec::new()),
        }
    }
}

impl Tally {
    /// Counts an error, keeping the first few word for word.
    pub fn error(&self, what: &str, error: &anyhow::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < KEPT_ERRORS {
            kept.push(format!("{what}: {error:#}"));
        }
    }

    /// The errors kept word for word.
    pub fn kept_errors(&self) -> Vec<String> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(histogram: &Mutex<Histogram<u64>>, started: Instant) {
        let ns = started.elapsed().as_nanos() as u64;
        let mut h = histogram.lock().unwrap_or_else(|e| e.into_inner());
        let _ = h.record(ns.max(1));
    }
}

/// A channel the generator holds; counted in [`Tally::alive`] while it lives.
struct Held {
    ws: Ws,
    tally: Arc<Tally>,
}

impl Held {
    async fn open(target: &Target, endpoint: Endpoint, tally: &Arc<Tally>) -> anyhow::Result<Self> {
        let ws = timeout(STEP, target.connect(endpoint))
            .await
            .map_err(|_| anyhow::anyhow!("connect and register took over {STEP:?}"))??;
        tally.alive.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            ws,
            tally: tally.clone(),
        })
    }

    /// Closes with 1000 and waits (bounded) for the node's close in return.
    async fn close(mut self) -> anyhow::Result<()> {
        self.ws.close(None).await?;
        let drained = timeout(STEP, async {
            while let Some(frame) = self.ws.next().await {
                frame?;
            }
            anyhow::Ok(())
        });
        drained
            .await
            .map_err(|_| anyhow::anyhow!("no close from the node in {STEP:?}"))?
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.tally.alive.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Connects to echo, does `trips` round trips, closes; again until `end`.
pub async fn churn(target: Target, trips: usize, end: Instant, tally: Arc<Tally>) {
    let payload = bytes::Bytes::from(vec![b'e'; 32]);
    while Instant::now() < end {
        let cycle = async {
            let mut held = Held::open(&target, Endpoint::Echo, &tally).await?;
            for _ in 0..trips {
                let started = Instant::now();
                timeout(STEP, round_trip(&mut held.ws, &payload))
                    .await
                    .map_err(|_| anyhow::anyhow!("echo took over {STEP:?}"))??;
                Tally::record(&tally.echo, started);
            }
            held.close().await
        };
        match cycle.await {
            Ok(()) => {
                tally.cycles.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tally.error("echo client", &e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// The number after `marker` in `frame`, and what follows it.
fn number_after<'a>(frame: &'a [u8], marker: &[u8]) -> Option<(u64, &'a [u8])> {
    let at = frame.windows(marker.len()).position(|w| w == marker)? + marker.len();
    let rest = &frame[at..];
    let end = rest
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    let value = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
    Some((value, &rest[end..]))
}

/// `(member, seq)` of a chat `message` event this soak said (text `soak MEMBER SEQ`).
fn said(frame: &[u8]) -> Option<(u64, u64)> {
    if !frame.starts_with(br#"{"type":"message""#) {
        return None;
    }
    let (member, rest) = number_after(frame, br#""text":"soak "#)?;
    let (seq, _) = number_after(rest, b" ")?;
    Some((member, seq))
}

/// A chat member in JSON mode: says something every `every`, and times each say until it
/// comes back to it as a `message` event; until `end`, then leaves.
pub async fn chat_member(
    target: Target,
    me: u64,
    every: Duration,
    end: Instant,
    tally: Arc<Tally>,
) {
    let run = async {
        let mut held = Held::open(&target, Endpoint::Chat, &tally).await?;
        held.ws.send(Message::text(r#"{"type":"who"}"#)).await?;
        timeout(STEP, async {
            loop {
                let frame = next_data(&mut held.ws).await?;
                if frame.starts_with(br#"{"type":"hello""#) {
                    return anyhow::Ok(());
                }
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("no hello in JSON mode in {STEP:?}"))??;
        let mut seq = 0u64;
        while Instant::now() < end {
            let text = format!(r#"{{"type":"say","text":"soak {me} {seq}"}}"#);
            let started = Instant::now();
            held.ws.send(Message::text(text)).await?;
            let own = timeout(STEP, async {
                loop {
                    let frame = next_data(&mut held.ws).await?;
                    if said(&frame) == Some((me, seq)) {
                        return anyhow::Ok(());
                    }
                }
            });
            own.await
                .map_err(|_| anyhow::anyhow!("say {seq} not shown back in {STEP:?}"))??;
            Tally::record(&tally.chat, started);
            tally.chat_seen.fetch_add(1, Ordering::Relaxed);
            seq += 1;
            // Keep reading the others' messages while waiting for the next turn.
            let next = Instant::now() + every;
            while let Ok(frame) = tokio::time::timeout_at(next, held.ws.next()).await {
                match frame {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => anyhow::bail!("socket ended"),
                }
            }
        }
        held.close().await
    };
    if let Err(e) = run.await {
        tally.error("chat member", &e);
    }
}

/// Opens an echo channel, sends large frames without reading any echo back until the node
/// stops taking them, then reads: the node must have cut it with `slow_consumer` / 1008.
/// One after another, a new one every `every`, until `end`.
pub async fn slow_readers(target: Target, every: Duration, end: Instant, tally: Arc<Tally>) {
    let frame = bytes::Bytes::from(vec![b's'; 64 * 1024]);
    while Instant::now() < end {
        let next = Instant::now() + every;
        match slow_reader(&target, &frame, &tally).await {
            Ok(()) => {
                tally.slow_cut.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tally.error("slow reader", &e),
        }
        tokio::time::sleep_until(next.min(end)).await;
    }
}

async fn slow_reader(
    target: &Target,
    frame: &bytes::Bytes,
    tally: &Arc<Tally>,
) -> anyhow::Result<()> {
    let mut held = Held::open(target, Endpoint::Echo, tally).await?;
    // At most 64 MiB: far past the node's 1 MiB and both sides' socket buffers.
    for _ in 0..1024 {
        match timeout(
            Duration::from_secs(1),
            held.ws.send(Message::Binary(frame.clone())),
        )
        .await
        {
            Ok(Ok(())) => {}
            // The node stopped reading (its outbox is full) or already closed: read now.
            Ok(Err(_)) | Err(_) => break,
        }
    }
    let close = timeout(Duration::from_secs(30), async {
        loop {
            match held.ws.next().await {
                Some(Ok(Message::Close(frame))) => return Ok(frame),
                Some(Ok(_)) => continue,
                Some(Err(e)) => anyhow::bail!("socket failed before a close frame: {e}"),
                None => anyhow::bail!("socket ended without a close frame"),
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("not cut within 30 s of stopping to read"))??;
    let frame = close.ok_or_else(|| anyhow::anyhow!("closed without a code"))?;
    anyhow::ensure!(
        frame.code == CloseCode::Policy && frame.reason.as_str() == "slow_consumer",
        "closed with {} {:?}, not 1008 slow_consumer",
        u16::from(frame.code),
        frame.reason.as_str()
    );
    Ok(())
}

/// A subscriber to `broadcast:broadcast:sys` on the first node, counting what arrives from
/// the second; until `end`.
pub async fn net_subscriber(target: Target, end: Instant, tally: Arc<Tally>) {
    let run = async {
        let mut held = Held::open(&target, Endpoint::Broadcast, &tally).await?;
        loop {
            match tokio::time::timeout_at(end, held.ws.next()).await {
                Err(_) => break,
                Ok(Some(Ok(Message::Binary(_) | Message::Text(_)))) => {
                    tally.net_delivered.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => return Err(e.into()),
                Ok(None) => anyhow::bail!("socket ended"),
            }
        }
        held.close().await
    };
    if let Err(e) = run.await {
        tally.error("net subscriber", &e);
    }
}

/// Publishes a small frame every `every` to `broadcast:broadcast:sys` on the second node,
/// whose address `second` holds (`None` while it restarts). Losing the connection when
/// the node is killed is the flap, not an error; it reconnects when the node is back.
pub async fn net_publisher(
    mut second: watch::Receiver<Option<Target>>,
    every: Duration,
    end: Instant,
    tally: Arc<Tally>,
) {
    let frame = bytes::Bytes::from(vec![b'n'; 64]);
    while Instant::now() < end {
        let target = second.borrow_and_update().clone();
        let Some(target) = target else {
            let _ = tokio::time::timeout_at(end, second.changed()).await;
            continue;
        };
        let mut held = match Held::open(&target, Endpoint::Broadcast, &tally).await {
            Ok(held) => held,
            Err(e) => {
                // Dialing a node just killed is the flap; dialing a live one must work.
                if second.borrow().as_ref().map(|t| t.addr) == Some(target.addr) {
                    tally.error("net publisher", &e);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut tick = tokio::time::interval(every);
        while Instant::now() < end && !second.has_changed().unwrap_or(true) {
            // Whatever the node sends back (its own broadcasts) is read and dropped.
            tokio::select! {
                _ = tick.tick() => {}
                frame = held.ws.next() => match frame {
                    Some(Ok(_)) => continue,
                    _ => break,
                },
            }
            if held.ws.send(Message::Binary(frame.clone())).await.is_err() {
                break;
            }
            tally.net_published.fetch_add(1, Ordering::Relaxed);
        }
        let _ = timeout(Duration::from_secs(2), held.close()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::said;

    #[test]
    fn own_says_are_recognised() {
        let event = br#"{"type":"message","id":4,"ts":1,"from":"user2","text":"soak 3 17"}"#;
        assert_eq!(said(event), Some((3, 17)));
        let other = br#"{"type":"join","name":"user2","online":2}"#;
        assert_eq!(said(other), None);
        let foreign = br#"{"type":"message","id":3,"ts":1,"from":"ann","text":"hello"}"#;
        assert_eq!(said(foreign), None);
    }
}
