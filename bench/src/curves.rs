//! The cost curves: how each server's cost grows with the work, measured point by point.
//!
//! - `fanout-curve`: fan-out deliveries/s and latency against subscribers (100, 1,000,
//!   10,000 by default), at each of several depths (1 and 16 frames in flight by default).
//! - `echo-curve`: echo msgs/s and round-trip latency against clients (1 to 10,000).
//! - `idle-curve`: server RSS against idle connections, up to the file limit.
//! - `open-loop`: echo at a fixed offered rate, a share (half by default) of the highest
//!   closed-loop echo rate a bare tokio-tungstenite server reached in this run, with
//!   latency timed from each frame's due time.
//!
//! `curves` names all four. Unlike echo and fan-out in the main comparison, every point
//! runs on a fresh process of one server at a time: at 10,000 connections the server holds
//! 10,000 sockets and the generator as many, and two servers' worth would not fit under the
//! file limit. The servers take turns point by point, the first one rotating, so a drift in
//! the machine's speed falls on each of them alike.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::client::Target;
use crate::compare::ServerRun;
use crate::scenario::echo::{EchoParams, EchoResult, EchoSession};
use crate::scenario::fanout::{self, FanoutParams, FanoutResult};
use crate::scenario::idle_max::{self, IdleMaxResult};
use crate::scenario::open_loop::{self, OpenLoopParams, OpenLoopResult};
use crate::servers::{self, Programs, ServerKind};

/// The scenario names `curves` stands for, in the order they run.
pub const SCENARIOS: [&str; 4] = ["fanout-curve", "echo-curve", "idle-curve", "open-loop"];

/// Descriptors the generator keeps for itself beyond its clients' sockets.
const OWN_FDS: u64 = 64;

/// A point of the idle curve: a count of connections, or as many as the file limit allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IdleSize {
    /// This many connections (fewer if the file limit is lower).
    Count(usize),
    /// The server's file limit less what it already has open.
    FileLimit,
}

impl FromStr for IdleSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "max" {
            return Ok(Self::FileLimit);
        }
        s.replace('_', "")
            .parse()
            .map(Self::Count)
            .map_err(|_| format!("{s:?} is neither a count of connections nor `max`"))
    }
}

impl fmt::Display for IdleSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n}"),
            Self::FileLimit => f.write_str("max"),
        }
    }
}

/// What the curves run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CurveParams {
    /// The servers the curves run for (those of them that are in the comparison).
    pub servers: Vec<ServerKind>,
    /// Fan-out subscriber counts.
    pub subscribers: Vec<usize>,
    /// Echo client counts.
    pub echo_clients: Vec<usize>,
    /// Idle connection counts.
    pub idle: Vec<IdleSize>,
    /// The depths of the fan-out curve: each subscriber count runs once at each of these
    /// frames in flight at most. Results of a single depth say `window: 16`, read as `[16]`.
    #[serde(alias = "window", deserialize_with = "one_or_many")]
    pub windows: Vec<u64>,
    /// Payload bytes (echo, fan-out, open-loop).
    pub size: usize,
    /// Echo and open-loop warm-up before counting.
    pub warmup: Duration,
    /// How long each echo, fan-out and open-loop point is counted.
    pub duration: Duration,
    /// Open-loop clients.
    pub open_clients: usize,
    /// The open-loop rate as a share of the bare server's highest echo rate.
    pub open_share: f64,
}

impl Default for CurveParams {
    fn default() -> Self {
        Self {
            servers: vec![
                ServerKind::Switchboard,
                ServerKind::TtDefault,
                ServerKind::Tt4k,
            ],
            subscribers: vec![100, 1_000, 10_000],
            echo_clients: vec![1, 16, 64, 1_000, 10_000],
            idle: vec![
                IdleSize::Count(1_000),
                IdleSize::Count(5_000),
                IdleSize::Count(10_000),
                IdleSize::FileLimit,
            ],
            windows: vec![1, 16],
            size: 32,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(3),
            open_clients: 64,
            open_share: 0.5,
        }
    }
}

/// One measured point: the count it ran at and what came of it.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Point<T> {
    /// Subscribers or clients.
    pub n: usize,
    /// The result at `n`.
    pub result: T,
}

/// One point of the fan-out curve: a subscriber count at one depth.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct FanoutPoint {
    /// Subscribers.
    pub n: usize,
    /// Frames in flight at most (0 in results of a single depth, which say it once in
    /// [`CurveParams::windows`]; [`Curves::fill_window`] puts it in).
    #[serde(default)]
    pub window: u64,
    /// The result at `n` and `window`.
    pub result: FanoutResult,
}

/// A number or a list of them (older results name one fan-out depth, newer ones several).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(u64),
        Many(Vec<u64>),
    }
    Ok(match serde::Deserialize::deserialize(d)? {
        OneOrMany::One(w) => vec![w],
        OneOrMany::Many(ws) => ws,
    })
}

/// One point of the idle curve.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct IdlePoint {
    /// What was asked for.
    pub size: IdleSize,
    /// What was held and what it cost.
    pub result: IdleMaxResult,
}

/// Where the open-loop rate came from: the bare server's highest closed-loop echo rate.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Basis {
    /// The bare server that reached it.
    pub kind: ServerKind,
    /// At how many clients.
    pub clients: usize,
    /// The rate, msgs/s.
    pub msgs_per_s: f64,
}

/// The open-loop point of one server.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct OpenLoop {
    /// What the offered rate is a share of.
    pub basis: Basis,
    /// What was measured.
    pub result: OpenLoopResult,
}

/// One server's curves in one run; a point that failed is missing and has an error line.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Curves {
    /// Fan-out against subscribers, at each depth.
    pub fanout: Vec<FanoutPoint>,
    /// Echo against clients.
    pub echo: Vec<Point<EchoResult>>,
    /// RSS against idle connections.
    pub idle: Vec<IdlePoint>,
    /// Echo at a fixed offered rate.
    pub open_loop: Option<OpenLoop>,
}

impl Curves {
    /// Gives the fan-out points of results made at a single depth that depth.
    pub fn fill_window(&mut self, window: u64) {
        for p in self.fanout.iter_mut().filter(|p| p.window == 0) {
            p.window = window;
        }
    }

    /// The fan-out result at `n` subscribers and `window` frames in flight, if measured.
    pub fn fanout_at(&self, n: usize, window: u64) -> Option<&FanoutResult> {
        self.fanout
            .iter()
            .find(|p| p.n == n && p.window == window)
            .map(|p| &p.result)
    }
}

/// The fan-out curve's points in the order they run: each subscriber count at every
/// depth before the next count, so the depths of one count are measured close together.
pub fn fanout_points(c: &CurveParams) -> Vec<(usize, u64)> {
    c.subscribers
        .iter()
        .flat_map(|&n| c.windows.iter().map(move |&w| (n, w)))
        .collect()
}

/// Whether any of the curves' scenarios is wanted.
pub fn any_wanted(wants: impl Fn(&str) -> bool) -> bool {
    SCENARIOS.iter().any(|s| wants(s))
}

/// The generator's own open-file limit.
fn own_fd_limit() -> u64 {
    rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
}

/// Fails early, with a clear sentence, when `n` client sockets cannot fit in this process.
fn fits(n: usize) -> anyhow::Result<()> {
    let limit = own_fd_limit();
    anyhow::ensure!(
        n as u64 + OWN_FDS <= limit,
        "{n} client sockets do not fit under the generator's open-file limit of {limit}"
    );
    Ok(())
}

/// Fan-out with `n` subscribers and at most `window` frames in flight on a fresh `kind`.
async fn fanout_point(
    programs: &Programs,
    core: Option<usize>,
    kind: ServerKind,
    (n, window): (usize, u64),
    c: &CurveParams,
) -> anyhow::Result<FanoutResult> {
    fits(n + 1)?;
    let server = servers::start(kind, programs, core).await?;
    let target = Target::of(&server);
    let params = FanoutParams {
        subscribers: n,
        size: c.size,
        window,
        duration: c.duration,
    };
    let result = fanout::run_across(&target, &target, &[server.pid], params).await;
    server.stop().await;
    result
}

/// Closed-loop echo with `n` clients on a fresh `kind`.
async fn echo_point(
    programs: &Programs,
    core: Option<usize>,
    kind: ServerKind,
    n: usize,
    c: &CurveParams,
) -> anyhow::Result<EchoResult> {
    fits(n)?;
    let server = servers::start(kind, programs, core).await?;
    let params = EchoParams {
        clients: n,
        size: c.size,
        warmup: c.warmup,
        duration: c.duration,
    };
    let result = async {
        let mut session = EchoSession::open(&Target::of(&server), server.pid, params).await?;
        session.slice(params.warmup, params.duration).await;
        session.finish().await
    }
    .await;
    server.stop().await;
    result
}

/// Idle connections held by worker processes on a fresh `kind`.
async fn idle_point(
    programs: &Programs,
    core: Option<usize>,
    kind: ServerKind,
    size: IdleSize,
) -> anyhow::Result<IdleMaxResult> {
    let server = servers::start(kind, programs, core).await?;
    let cap = match size {
        IdleSize::Count(n) => Some(n),
        IdleSize::FileLimit => None,
    };
    let result = idle_max::run(&programs.bench, &Target::of(&server), server.pid, cap).await;
    server.stop().await;
    result
}

/// Open-loop echo at `rate` on a fresh `kind`.
async fn open_point(
    programs: &Programs,
    core: Option<usize>,
    kind: ServerKind,
    rate: f64,
    c: &CurveParams,
) -> anyhow::Result<OpenLoopResult> {
    fits(c.open_clients)?;
    let server = servers::start(kind, programs, core).await?;
    let params = OpenLoopParams {
        clients: c.open_clients,
        rate,
        size: c.size,
        warmup: c.warmup,
        duration: c.duration,
    };
    let result = open_loop::run(&Target::of(&server), server.pid, params).await;
    server.stop().await;
    result
}

/// The order servers take their turn at point `point`: each point starts one server later.
fn rotation(servers: usize, point: usize) -> impl Iterator<Item = usize> {
    (0..servers).map(move |i| (point + i) % servers)
}

/// The places in `results` of the servers the curves run for, each in its turn at `point`.
fn turns(c: &CurveParams, results: &[ServerRun], point: usize) -> Vec<usize> {
    let chosen: Vec<usize> = (0..results.len())
        .filter(|&i| c.servers.contains(&results[i].kind))
        .collect();
    rotation(chosen.len(), point).map(|i| chosen[i]).collect()
}

/// Whether `kind` is a bare tokio-tungstenite server, whose echo rate sets the open loop's.
fn bare(kind: ServerKind) -> bool {
    matches!(kind, ServerKind::TtDefault | ServerKind::Tt4k)
}

/// The highest echo rate of a bare server on its curve in this run.
fn basis_from_curves(results: &[ServerRun]) -> Option<Basis> {
    results
        .iter()
        .filter(|r| bare(r.kind))
        .flat_map(|r| {
            r.curves.echo.iter().map(|p| Basis {
                kind: r.kind,
                clients: p.n,
                msgs_per_s: p.result.msgs_per_s,
            })
        })
        .max_by(|a, b| a.msgs_per_s.total_cmp(&b.msgs_per_s))
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Runs the wanted curves for the servers in `results` that `c` names, one server at a time
/// on fresh processes pinned to `core`; each point's result or error goes to its server's
/// run.
pub async fn run(
    programs: &Programs,
    core: Option<usize>,
    c: &CurveParams,
    wants: impl Fn(&str) -> bool,
    results: &mut [ServerRun],
) {
    if wants("fanout-curve") {
        for (point, (n, window)) in fanout_points(c).into_iter().enumerate() {
            for at in turns(c, results, point) {
                let kind = results[at].kind;
                let what = format!("fan-out curve, {n} subscribers, {window} in flight");
                eprintln!("  {}: {what}", kind.short());
                match fanout_point(programs, core, kind, (n, window), c).await {
                    Ok(result) => results[at]
                        .curves
                        .fanout
                        .push(FanoutPoint { n, window, result }),
                    Err(e) => results[at].errors.push(format!("{what}: {e:#}")),
                }
                settle().await;
            }
        }
    }
    if wants("echo-curve") {
        for (point, &n) in c.echo_clients.iter().enumerate() {
            for at in turns(c, results, point) {
                let kind = results[at].kind;
                eprintln!("  {}: echo curve, {n} clients", kind.short());
                match echo_point(programs, core, kind, n, c).await {
                    Ok(result) => results[at].curves.echo.push(Point { n, result }),
                    Err(e) => results[at]
                        .errors
                        .push(format!("echo curve, {n} clients: {e:#}")),
                }
                settle().await;
            }
        }
    }
    if wants("idle-curve") {
        for (point, &size) in c.idle.iter().enumerate() {
            for at in turns(c, results, point) {
                let kind = results[at].kind;
                eprintln!("  {}: idle curve, {size} connections", kind.short());
                match idle_point(programs, core, kind, size).await {
                    Ok(result) => results[at].curves.idle.push(IdlePoint { size, result }),
                    Err(e) => results[at]
                        .errors
                        .push(format!("idle curve, {size} connections: {e:#}")),
                }
                settle().await;
            }
        }
    }
    if wants("open-loop") {
        run_open_loop(programs, core, c, results).await;
    }
}

/// The open loop: the rate from the echo curve's bare servers (or, without that curve,
/// from a closed-loop echo at the open loop's client count on each bare server), then
/// every server at that rate.
async fn run_open_loop(
    programs: &Programs,
    core: Option<usize>,
    c: &CurveParams,
    results: &mut [ServerRun],
) {
    let mut basis = basis_from_curves(results);
    if basis.is_none() {
        for r in results
            .iter_mut()
            .filter(|r| bare(r.kind) && c.servers.contains(&r.kind))
        {
            eprintln!(
                "  {}: closed-loop echo at {} clients, for the open loop's rate",
                r.kind.short(),
                c.open_clients
            );
            match echo_point(programs, core, r.kind, c.open_clients, c).await {
                Ok(e) if basis.is_none_or(|b| e.msgs_per_s > b.msgs_per_s) => {
                    basis = Some(Basis {
                        kind: r.kind,
                        clients: c.open_clients,
                        msgs_per_s: e.msgs_per_s,
                    });
                }
                Ok(_) => {}
                Err(e) => r
                    .errors
                    .push(format!("open loop's closed-loop echo: {e:#}")),
            }
            settle().await;
        }
    }
    let Some(basis) = basis else {
        for r in results.iter_mut().filter(|r| c.servers.contains(&r.kind)) {
            r.errors.push(
                "open loop: no bare tokio-tungstenite server (tt-default or tt-4k) measured \
                 an echo rate to take a share of"
                    .to_owned(),
            );
        }
        return;
    };
    let rate = basis.msgs_per_s * c.open_share;
    for at in turns(c, results, 0) {
        let kind = results[at].kind;
        eprintln!("  {}: open-loop echo at {rate:.0} msgs/s", kind.short());
        match open_point(programs, core, kind, rate, c).await {
            Ok(result) => results[at].curves.open_loop = Some(OpenLoop { basis, result }),
            Err(e) => results[at].errors.push(format!("open loop: {e:#}")),
        }
        settle().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_sizes_parse_and_print() {
        assert_eq!("max".parse(), Ok(IdleSize::FileLimit));
        assert_eq!("10_000".parse(), Ok(IdleSize::Count(10_000)));
        assert!("lots".parse::<IdleSize>().is_err());
        assert_eq!(IdleSize::FileLimit.to_string(), "max");
    }

    #[test]
    fn every_count_runs_at_every_depth_before_the_next_count() {
        let c = CurveParams {
            subscribers: vec![100, 10_000],
            windows: vec![1, 16],
            ..CurveParams::default()
        };
        assert_eq!(
            fanout_points(&c),
            [(100, 1), (100, 16), (10_000, 1), (10_000, 16)]
        );
    }

    #[test]
    fn one_depth_or_several_read_back() {
        let mut json = serde_json::to_value(CurveParams::default()).expect("params as JSON");
        assert_eq!(json["windows"], serde_json::json!([1, 16]));
        let object = json.as_object_mut().expect("an object");
        object.remove("windows");
        object.insert("window".to_owned(), 16.into());
        let old: CurveParams = serde_json::from_value(json).expect("a single depth reads");
        assert_eq!(old.windows, [16]);

        let point: FanoutPoint = serde_json::from_value(
            serde_json::json!({"n": 100, "result": FanoutResult::default()}),
        )
        .expect("a point without its depth reads");
        let mut curves = Curves {
            fanout: vec![point],
            ..Curves::default()
        };
        curves.fill_window(16);
        assert!(curves.fanout_at(100, 16).is_some());
        assert!(curves.fanout_at(100, 1).is_none());
    }

    #[test]
    fn every_point_starts_one_server_later() {
        let orders: Vec<Vec<usize>> = (0..3).map(|p| rotation(3, p).collect()).collect();
        assert_eq!(orders, [[0, 1, 2], [1, 2, 0], [2, 0, 1]]);
    }
}
