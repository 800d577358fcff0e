//! Soak: two linked nodes under mixed load for a long time (ten minutes by default), to
//! show what only time shows: memory that creeps, channels or files that leak, latency
//! that drifts, errors that come once in a thousand.
//!
//! On the first node (alice, the one measured): echo clients that churn (connect,
//! register, a few round trips, close, again), chat members in JSON mode saying things
//! and timing their own messages, slow readers that stop reading and must be cut with
//! `slow_consumer` / 1008, and broadcast subscribers fed across the node-to-node link by a
//! publisher on the second node (bob), which is killed and started again every few
//! seconds so the link flaps. Every interval, alice's RSS and open files, the channels the
//! generator holds, and the interval's echo and chat latency are sampled.
//!
//! At the end every client has closed: the generator must hold no channel, alice's open
//! files must be back where they were before any client came, and there must be no error
//! beyond the slow readers' closes. Memory is reported as the mean RSS of the first and
//! last quarters of the samples.

mod load;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Latency;
use crate::client::Target;
use crate::procfs;
use crate::servers::{self, Programs};
use load::Tally;

/// What to run.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct SoakParams {
    /// How long the load runs.
    pub duration: Duration,
    /// How often a sample is taken.
    pub sample_every: Duration,
    /// Echo clients churning at once.
    pub churners: usize,
    /// Round trips each echo connection makes before it closes.
    pub trips: usize,
    /// Chat members.
    pub chat_members: usize,
    /// How often each chat member says something.
    pub chat_every: Duration,
    /// How often a new slow reader starts.
    pub slow_every: Duration,
    /// Broadcast subscribers on alice fed from bob.
    pub net_subscribers: usize,
    /// How often bob is killed and started again.
    pub flap_every: Duration,
}

impl Default for SoakParams {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(600),
            sample_every: Duration::from_secs(5),
            churners: 16,
            trips: 20,
            chat_members: 8,
            chat_every: Duration::from_millis(200),
            slow_every: Duration::from_secs(5),
            net_subscribers: 4,
            flap_every: Duration::from_secs(20),
        }
    }
}

/// One sample.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    /// Seconds since the load started.
    pub t_s: f64,
    /// Alice's resident memory.
    pub rss_bytes: u64,
    /// Alice's open files (sockets included).
    pub open_files: u64,
    /// Channels the generator holds registered.
    pub channels: i64,
    /// Echo round trips in this interval.
    pub echo: Latency,
    /// Chat say-to-own-message in this interval.
    pub chat: Latency,
    /// Echo connections completed in this interval.
    pub cycles: u64,
    /// Frames delivered across the link in this interval.
    pub net_delivered: u64,
}

/// What was measured.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SoakResult {
    /// One per interval.
    pub samples: Vec<Sample>,
    /// Alice's open files after the link came up, before any client.
    pub open_files_before: u64,
    /// Alice's open files after every client closed.
    pub open_files_after: u64,
    /// Channels the generator still held at the end.
    pub channels_after: i64,
    /// Mean RSS of the first quarter of the samples.
    pub rss_first_quarter: f64,
    /// Mean RSS of the last quarter of the samples.
    pub rss_last_quarter: f64,
    /// Echo connections opened, used and closed.
    pub cycles: u64,
    /// Says shown back to their sender.
    pub chat_seen: u64,
    /// Slow readers cut with `slow_consumer` / 1008 (expected).
    pub slow_cut: u64,
    /// Times bob was killed and started again.
    pub flaps: u64,
    /// Frames published on bob.
    pub net_published: u64,
    /// Frames delivered to alice's subscribers.
    pub net_delivered: u64,
    /// Frames delivered after the last restart of bob (the link came back).
    pub net_delivered_after_last_flap: u64,
    /// Errors, slow readers' closes not counted.
    pub errors: u64,
    /// The first errors, word for word.
    pub error_lines: Vec<String>,
    /// Why the soak failed; empty when it passed.
    pub failures: Vec<String>,
}

/// Alice's open files, waited on (at most 15 s) to come back to `before`.
async fn open_files_settle(pid: u32, before: u64) -> u64 {
    let by = Instant::now() + Duration::from_secs(15);
    loop {
        let now = procfs::open_files(pid).unwrap_or(u64::MAX);
        if now <= before || Instant::now() >= by {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn mean_rss(samples: &[Sample]) -> f64 {
    let n = samples.len().max(1) as f64;
    samples.iter().map(|s| s.rss_bytes as f64).sum::<f64>() / n
}

fn take_latency(h: &std::sync::Mutex<hdrhistogram::Histogram<u64>>) -> Latency {
    let mut h = h.lock().unwrap_or_else(|e| e.into_inner());
    let latency = if h.is_empty() {
        Latency::default()
    } else {
        Latency::of(&h)
    };
    h.reset();
    latency
}

/// Runs the soak on a fresh pair of linked nodes, pinned to `core` when given.
pub async fn run(
    programs: &Programs,
    core: Option<usize>,
    params: SoakParams,
) -> anyhow::Result<SoakResult> {
    let pair = servers::start_pair(programs, core).await?;
    let alice = Target::of(&pair.alice);
    let pid = pair.alice.pid;
    let mut bob = pair.bob;
    let tally = Arc::new(Tally::default());
    // The link comes up in the background: wait until a frame crosses it.
    wait_for_link(&alice, &Target::of(&bob)).await?;
    let open_files_before = procfs::open_files(pid)?;

    let start = Instant::now();
    let end = start + params.duration;
    let (second_tx, second_rx) = tokio::sync::watch::channel(Some(Target::of(&bob)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..params.net_subscribers {
        tasks.spawn(load::net_subscriber(alice.clone(), end, tally.clone()));
    }
    tasks.spawn(load::net_publisher(
        second_rx,
        Duration::from_millis(50),
        end,
        tally.clone(),
    ));
    for me in 0..params.chat_members as u64 {
        let every = params.chat_every;
        tasks.spawn(load::chat_member(
            alice.clone(),
            me,
            every,
            end,
            tally.clone(),
        ));
    }
    for _ in 0..params.churners {
        tasks.spawn(load::churn(alice.clone(), params.trips, end, tally.clone()));
    }
    tasks.spawn(load::slow_readers(
        alice.clone(),
        params.slow_every,
        end,
        tally.clone(),
    ));

    let mut samples = Vec::new();
    let mut flaps = 0u64;
    let mut delivered_at_last_flap = 0u64;
    let mut next_sample = start + params.sample_every;
    let mut next_flap = start + params.flap_every;
    let (mut cycles_then, mut net_then) = (0u64, 0u64);
    while Instant::now() < end {
        tokio::time::sleep_until(next_sample.min(next_flap).min(end)).await;
        let now = Instant::now();
        if now >= next_flap && now < end {
            next_flap += params.flap_every;
            second_tx.send_replace(None);
            bob = bob.restart(programs, core).await?;
            flaps += 1;
            delivered_at_last_flap = tally.net_delivered.load(Ordering::Relaxed);
            second_tx.send_replace(Some(Target::of(&bob)));
        }
        if Instant::now() >= next_sample {
            next_sample += params.sample_every;
            let cycles = tally.cycles.load(Ordering::Relaxed);
            let net = tally.net_delivered.load(Ordering::Relaxed);
            let sample = Sample {
                t_s: start.elapsed().as_secs_f64(),
                rss_bytes: procfs::rss_bytes(pid)?,
                open_files: procfs::open_files(pid)?,
                channels: tally.alive.load(Ordering::Relaxed),
                echo: take_latency(&tally.echo),
                chat: take_latency(&tally.chat),
                cycles: cycles - cycles_then,
                net_delivered: net - net_then,
            };
            (cycles_then, net_then) = (cycles, net);
            eprintln!(
                "    {:>5.0} s: rss {:.1} MiB, {} files, {} channels, echo p99 {:.0} µs, chat p99 {:.0} µs",
                sample.t_s,
                sample.rss_bytes as f64 / (1 << 20) as f64,
                sample.open_files,
                sample.channels,
                sample.echo.p99_us,
                sample.chat.p99_us
            );
            samples.push(sample);
        }
    }
    // Every client stops by itself at `end`, each step bounded.
    while tasks.join_next().await.is_some() {}
    let open_files_after = open_files_settle(pid, open_files_before).await;
    pair.alice.stop().await;
    bob.stop().await;

    let quarter = (samples.len() / 4).max(1).min(samples.len());
    let mut result = SoakResult {
        rss_first_quarter: mean_rss(&samples[..quarter]),
        rss_last_quarter: mean_rss(&samples[samples.len() - quarter..]),
        samples,
        open_files_before,
        open_files_after,
        channels_after: tally.alive.load(Ordering::Relaxed),
        cycles: tally.cycles.load(Ordering::Relaxed),
        chat_seen: tally.chat_seen.load(Ordering::Relaxed),
        slow_cut: tally.slow_cut.load(Ordering::Relaxed),
        flaps,
        net_published: tally.net_published.load(Ordering::Relaxed),
        net_delivered: tally.net_delivered.load(Ordering::Relaxed),
        net_delivered_after_last_flap: tally.net_delivered.load(Ordering::Relaxed)
            - delivered_at_last_flap,
        errors: tally.errors.load(Ordering::Relaxed),
        error_lines: tally.kept_errors(),
        failures: Vec::new(),
    };
    result.failures = judge(&result);
    Ok(result)
}

/// Why a finished soak failed, if it did.
fn judge(r: &SoakResult) -> Vec<String> {
    let mut failures = Vec::new();
    if r.channels_after != 0 {
        failures.push(format!(
            "{} channels still held at the end",
            r.channels_after
        ));
    }
    if r.open_files_after > r.open_files_before {
        failures.push(format!(
            "the node had {} files open at the end, {} before any client",
            r.open_files_after, r.open_files_before
        ));
    }
    if r.errors > 0 {
        failures.push(format!(
            "errors beyond the slow readers' closes: {}",
            r.errors
        ));
    }
    if r.flaps > 0 && r.net_delivered_after_last_flap == 0 {
        failures.push("nothing crossed the link after bob's last restart".to_owned());
    }
    failures
}

/// Waits (at most 30 s) until a frame published on bob reaches a subscriber on alice.
async fn wait_for_link(alice: &Target, bob: &Target) -> anyhow::Result<()> {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut subscriber = alice.connect(crate::client::Endpoint::Broadcast).await?;
    let mut publisher = bob.connect(crate::client::Endpoint::Broadcast).await?;
    let by = Instant::now() + Duration::from_secs(30);
    loop {
        anyhow::ensure!(Instant::now() < by, "the link did not come up in 30 s");
        publisher.send(Message::text("link?")).await?;
        let got = tokio::time::timeout(
            Duration::from_millis(300),
            crate::client::next_data(&mut subscriber),
        )
        .await;
        if let Ok(frame) = got {
            frame?;
            break;
        }
    }
    // Closed and drained, so the node's open files are counted without them.
    for mut ws in [subscriber, publisher] {
        use futures_util::StreamExt;
        let _ = ws.close(None).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean() -> SoakResult {
        SoakResult {
            open_files_before: 17,
            open_files_after: 17,
            slow_cut: 3,
            flaps: 2,
            net_delivered_after_last_flap: 40,
            ..SoakResult::default()
        }
    }

    #[test]
    fn a_clean_soak_passes_with_slow_readers_cut() {
        assert!(judge(&clean()).is_empty());
    }

    #[test]
    fn leftovers_errors_and_a_dead_link_fail_it() {
        let left = SoakResult {
            channels_after: 2,
            open_files_after: 19,
            errors: 1,
            net_delivered_after_last_flap: 0,
            ..clean()
        };
        assert_eq!(
            judge(&left),
            [
                "2 channels still held at the end",
                "the node had 19 files open at the end, 17 before any client",
                "errors beyond the slow readers' closes: 1",
                "nothing crossed the link after bob's last restart",
            ]
        );
    }
}
