//! Chat: M members of `chat:chat:sys`, all in JSON mode, in one room. P of them publish
//! `say`s, taking turns, so that at most W says are incomplete at any time. A say is
//! complete when its `message` event has reached every member, the sender included; that
//! event is shown only after the message is stored in the chat's SQLite archive (synchronous
//! FULL), so this measures the archive and the fan-out together.
//!
//! Each say's text is `SEQ SENT_NS`; every member records the latency from the say's send
//! to its own delivery, checks that the chat's ids arrive one after another, and folds the
//! sequence numbers it saw into a hash, so the run also checks that every member was shown
//! the same messages in the same order. Messages/s counts completed says.
//!
//! Switchboard only: the bare servers have no chat.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::{histogram, Latency};
use crate::client::{next_data, Endpoint, Target, Ws};
use crate::procfs::{CpuMark, CpuSpans, CpuUse};

/// The sequence number of warm-up says, sent until every member has seen one.
const WARMUP: u64 = u64::MAX;
/// The sequence number of the say that ends the run; its time field is the count published.
const END: u64 = u64::MAX - 1;

/// What to run.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct ChatParams {
    /// Members in the room, publishers included.
    pub members: usize,
    /// Members that publish (at most `members`), taking turns.
    pub publishers: usize,
    /// Says not yet delivered to every member, at most.
    pub window: u64,
    /// How long the publishers publish.
    pub duration: Duration,
}

/// What was measured.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct ChatResult {
    /// Says delivered to every member, per second.
    pub messages_per_s: f64,
    /// Message events delivered to members, per second.
    pub deliveries_per_s: f64,
    /// From a say's send to its delivery to one member.
    pub latency: Latency,
    /// Says published (warm-up and end not counted).
    pub published: u64,
    /// Deliveries expected (published × members) but missing.
    pub missing: u64,
    /// Members whose ids skipped or who saw another order than the first member.
    pub disordered: u64,
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

/// What one member saw.
#[derive(Debug)]
struct Seen {
    latency: hdrhistogram::Histogram<u64>,
    received: u64,
    published: u64,
    id_gaps: u64,
    order: u64,
}

type Publisher = SplitSink<Ws, Message>;

fn say(seq: u64, sent: u64) -> Message {
    Message::text(format!(r#"{{"type":"say","text":"{seq} {sent}"}}"#))
}

/// The number at the start of `bytes`, and what follows it.
fn number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let end = bytes
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(bytes.len());
    let value = std::str::from_utf8(bytes.get(..end)?).ok()?.parse().ok()?;
    Some((value, &bytes[end..]))
}

/// `(id, seq, sent)` of a `message` event whose text this scenario wrote; `None` for any
/// other event. Read by hand: a member parses millions of these a second on one core.
/// The chat writes the fields in the order `type, id, ts, from, text`.
fn parse(frame: &[u8]) -> Option<(u64, u64, u64)> {
    let rest = frame.strip_prefix(br#"{"type":"message","id":"#)?;
    let (id, rest) = number(rest)?;
    const TEXT: &[u8] = br#""text":""#;
    let at = rest.windows(TEXT.len()).position(|w| w == TEXT)?;
    let (seq, rest) = number(&rest[at + TEXT.len()..])?;
    let (sent, _) = number(rest.strip_prefix(b" ")?)?;
    Some((id, seq, sent))
}

/// Reads one member's frames until the end say.
async fn member(
    mut stream: futures_util::stream::SplitStream<Ws>,
    shared: Arc<Shared>,
) -> anyhow::Result<Seen> {
    let mut seen = Seen {
        latency: histogram(),
        received: 0,
        published: 0,
        id_gaps: 0,
        order: 0,
    };
    let mut last_id: Option<u64> = None;
    let mut warm = false;
    // Deliveries not yet added to the shared count: it is touched once per read from the
    // socket, not once per frame, since every member adds to it and the publisher waits
    // on it (a thousand members taking millions of frames a second would otherwise spend
    // more on that one counter than on the frames).
    let mut uncounted = 0u64;
    loop {
        let next = match stream.next().now_or_never() {
            Some(next) => next,
            None => {
                count(&shared, &mut uncounted);
                stream.next().await
            }
        };
        let frame = match next {
            Some(Ok(Message::Text(text))) => bytes::Bytes::from(text),
            Some(Ok(Message::Close(frame))) => anyhow::bail!("closed by the server: {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error.into()),
            None => anyhow::bail!("socket ended"),
        };
        let Some((id, seq, sent)) = parse(&frame) else {
            continue;
        };
        if last_id.is_some_and(|last| id != last + 1) {
            seen.id_gaps += 1;
        }
        last_id = Some(id);
        match seq {
            WARMUP => {
                if !warm {
                    warm = true;
                    shared.ready.fetch_add(1, Ordering::AcqRel);
                    shared.progress.notify_one();
                }
            }
            END => {
                count(&shared, &mut uncounted);
                seen.published = sent;
                return Ok(seen);
            }
            seq => {
                seen.received += 1;
                seen.order = seen.order.wrapping_mul(1_000_003) ^ seq;
                let now = shared.epoch.elapsed().as_nanos() as u64;
                let _ = seen.latency.record(now.saturating_sub(sent).max(1));
                uncounted += 1;
            }
        }
    }
}

/// Adds a member's uncounted deliveries to the shared count and wakes the publisher.
fn count(shared: &Shared, uncounted: &mut u64) {
    if *uncounted > 0 {
        shared
            .delivered
            .fetch_add(std::mem::take(uncounted), Ordering::AcqRel);
        shared.progress.notify_one();
    }
}

/// Joins one member: registers, switches to JSON with a `who`, and splits the socket.
async fn join(target: &Target) -> anyhow::Result<Ws> {
    let mut ws = target.connect(Endpoint::Chat).await?;
    ws.send(Message::text(r#"{"type":"who"}"#)).await?;
    // The greeting (and history) come first, then the hello that confirms JSON mode.
    loop {
        let frame = next_data(&mut ws).await?;
        if frame.starts_with(br#"{"type":"hello""#) {
            return Ok(ws);
        }
    }
}

/// Waits (at most 10 ms) for a member to make progress.
async fn progress(shared: &Shared) {
    let _ = tokio::time::timeout(Duration::from_millis(10), shared.progress.notified()).await;
}

/// Runs the scenario against the Switchboard node at `target` whose process is `pid`.
pub async fn run(target: &Target, pid: u32, params: ChatParams) -> anyhow::Result<ChatResult> {
    anyhow::ensure!(
        params.publishers >= 1 && params.publishers <= params.members,
        "chat needs 1 to {} publishers",
        params.members
    );
    let shared = Arc::new(Shared {
        epoch: std::time::Instant::now(),
        delivered: AtomicU64::new(0),
        ready: AtomicUsize::new(0),
        progress: Notify::new(),
    });
    let mut members = Vec::with_capacity(params.members);
    let mut publishers: Vec<Publisher> = Vec::with_capacity(params.publishers);
    for at in 0..params.members {
        let (sink, stream) = join(target).await?.split();
        if at < params.publishers {
            publishers.push(sink);
        }
        members.push(tokio::spawn(member(stream, shared.clone())));
    }

    // Warm up until every member is in the room and in JSON mode.
    let wait_ready = Instant::now() + Duration::from_secs(60);
    'warmup: while shared.ready.load(Ordering::Acquire) < params.members {
        anyhow::ensure!(Instant::now() < wait_ready, "members not ready in 60 s");
        publishers[0].send(say(WARMUP, 0)).await?;
        let next = Instant::now() + Duration::from_millis(200);
        while Instant::now() < next {
            if shared.ready.load(Ordering::Acquire) == params.members {
                break 'warmup;
            }
            progress(&shared).await;
        }
    }

    let m = params.members as u64;
    let start = CpuMark::now_of(&[pid]);
    let end = Instant::now() + params.duration;
    let mut published = 0u64;
    while Instant::now() < end {
        let floor = (published + 1).saturating_sub(params.window) * m;
        if shared.delivered.load(Ordering::Acquire) < floor {
            progress(&shared).await;
            continue;
        }
        let sent = shared.epoch.elapsed().as_nanos() as u64;
        let publisher = &mut publishers[published as usize % params.publishers];
        publisher.send(say(published, sent)).await?;
        published += 1;
    }
    let drain_by = Instant::now() + Duration::from_secs(15);
    while shared.delivered.load(Ordering::Acquire) < published * m && Instant::now() < drain_by {
        progress(&shared).await;
    }
    let stop = CpuMark::now_of(&[pid]);
    let mut cpu = CpuSpans::default();
    cpu.add(&start, &stop);
    let delivered = shared.delivered.load(Ordering::Acquire);
    let wall = cpu.wall().as_secs_f64().max(1e-9);

    publishers[0].send(say(END, published)).await?;
    let mut latency = histogram();
    let mut missing = 0u64;
    let mut disordered = 0u64;
    let mut first_order = None;
    let wait_end = Instant::now() + Duration::from_secs(15);
    for mut member in members {
        match tokio::time::timeout_at(wait_end, &mut member).await {
            Ok(Ok(Ok(seen))) => {
                latency
                    .add(&seen.latency)
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                missing += seen.published.saturating_sub(seen.received);
                let same = *first_order.get_or_insert(seen.order) == seen.order;
                if seen.id_gaps > 0 || !same {
                    disordered += 1;
                }
            }
            _ => {
                member.abort();
                missing += published;
            }
        }
    }
    Ok(ChatResult {
        messages_per_s: (delivered / m) as f64 / wall,
        deliveries_per_s: delivered as f64 / wall,
        latency: Latency::of(&latency),
        published,
        missing,
        disordered,
        cpu: cpu.usage(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_events_are_read_by_hand() {
        let event = br#"{"type":"message","id":42,"ts":1,"from":"user7","text":"17 123456"}"#;
        assert_eq!(parse(event), Some((42, 17, 123456)));
        let other = br#"{"type":"join","name":"user2","online":2}"#;
        assert_eq!(parse(other), None);
        let foreign = br#"{"type":"message","id":3,"ts":1,"from":"ann","text":"hello"}"#;
        assert_eq!(parse(foreign), None);
    }
}
