//! Idle at the file limit: as many registered idle connections as the server's open-file
//! limit lets it hold, all at once. The server's limit minus the descriptors it already
//! has open (listeners, its own files) is the count asked for; the generator, which has
//! the same per-process limit, opens them from several worker processes
//! (`switchboard-bench idle-worker`), each holding its share until told to let go.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::idle::{open_many, IdleResult, Opened};
use crate::client::Target;
use crate::procfs::rss_bytes;

/// Connections one worker process holds at most (well under its own file limit).
const PER_WORKER: usize = 8_000;
/// Descriptors left spare in the server, for what it opens lazily (a log file, a database).
pub const SPARE: usize = 16;

/// What was measured at the limit.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct IdleMaxResult {
    /// The server's open-file limit.
    pub fd_limit: u64,
    /// Connections asked for: the limit less what the server had open, less a spare few.
    pub asked: usize,
    /// The connections, RSS and connect rate, as in the idle scenario.
    pub idle: IdleResult,
}

/// The soft `Max open files` of `pid`.
fn fd_limit(pid: u32) -> anyhow::Result<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .context("no `Max open files` limit")?;
    line.split_whitespace()
        .nth(3)
        .context("malformed limits line")?
        .parse()
        .context("malformed limits line")
}

/// Descriptors `pid` has open now.
fn open_fds(pid: u32) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// A worker process that is holding connections.
struct Worker {
    child: Child,
    held: usize,
    failed: usize,
}

async fn spawn_worker(bench: &Path, target: &Target, count: usize) -> anyhow::Result<Worker> {
    let mut child = Command::new(bench)
        .args(["idle-worker", "--addr", &target.addr.to_string(), "--count"])
        .arg(count.to_string())
        .args(
            target
                .token
                .as_ref()
                .map(|t| ["--token", t])
                .into_iter()
                .flatten(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start an idle worker ({})", bench.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
        .await
        .context("an idle worker said nothing in 120 s")??
        .context("an idle worker ended without a word")?;
    let mut words = line.split_whitespace();
    let (Some("held"), Some(held), Some("failed"), Some(failed)) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        anyhow::bail!("an idle worker said {line:?}");
    };
    Ok(Worker {
        child,
        held: held.parse()?,
        failed: failed.parse()?,
    })
}

/// Runs idle at the limit against `target`, whose process is `server_pid`, with workers
/// run from the `bench` binary; `cap` asks for fewer (a smoke test).
pub async fn run(
    bench: &Path,
    target: &Target,
    server_pid: u32,
    cap: Option<usize>,
) -> anyhow::Result<IdleMaxResult> {
    let limit = fd_limit(server_pid)?;
    // One connection first, as in the idle scenario, and counted in what is open.
    let Opened { held: first, .. } = open_many(target, 1, 1).await;
    anyhow::ensure!(first.len() == 1, "the first connection failed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = usize::try_from(limit)?.saturating_sub(open_fds(server_pid)? + SPARE);
    let asked = cap.map_or(asked, |cap| asked.min(cap));
    let rss_before = rss_bytes(server_pid)?;
    let started = Instant::now();
    let mut workers = Vec::new();
    let mut left = asked;
    // One worker at a time: the generator has one core, and each worker uses all of it.
    while left > 0 {
        let count = left.min(PER_WORKER);
        workers.push(spawn_worker(bench, target, count).await?);
        left -= count;
    }
    let elapsed = started.elapsed();
    let held: usize = workers.iter().map(|w| w.held).sum();
    let failed: usize = workers.iter().map(|w| w.failed).sum();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_bytes(server_pid)?;
    for mut worker in workers {
        // Closing its stdin tells a worker to let go; it must end soon after.
        drop(worker.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(10), worker.child.wait())
            .await
            .is_err()
        {
            let _ = worker.child.kill().await;
        }
    }
    drop(first);
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(IdleMaxResult {
        fd_limit: limit,
        asked,
        idle: IdleResult {
            held,
            failed,
            rss_per_conn: rss_after.saturating_sub(rss_before) as f64 / held.max(1) as f64,
            rss_before,
            rss_after,
            connects_per_s: held as f64 / elapsed.as_secs_f64(),
        },
    })
}

/// A worker's whole life: open `count` connections, say `held K failed F` on stdout,
/// hold them until stdin ends, then let go.
pub async fn worker(target: &Target, count: usize, concurrency: usize) -> anyhow::Result<()> {
    let opened = open_many(target, count, concurrency).await;
    if let Some(error) = &opened.first_error {
        eprintln!(
            "idle worker: {} connections failed; the first: {error:#}",
            opened.failed
        );
    }
    println!("held {} failed {}", opened.held.len(), opened.failed);
    use std::io::Write;
    std::io::stdout().flush()?;
    let mut sink = Vec::new();
    tokio::io::stdin().read_to_end(&mut sink).await?;
    drop(opened);
    Ok(())
}
