//! The whole comparison. In each of N runs, each server in turn is started fresh, pinned to
//! the server core, and put through idle. Then every server is started again, all at once,
//! for echo and then fan-out: each server's clients connect up front, and the servers take
//! turns in short slices (`--slices`, 5 by default, the first server rotating), so a machine
//! whose speed drifts over seconds slows each server alike and the ratios within a run
//! stay true. Fan-out runs twice: with the publisher's usual window, then with a deep one
//! (`--deep-window`), where each server rather than the window sets the rate. Switchboard
//! then also runs idle at its file limit (on another fresh process) and net (on two fresh,
//! linked nodes) and chat (on a fresh node for each depth: the configured window, then one
//! say in flight), and cluster (a fresh node and a fresh cluster of instances on NATS). Last
//! come the cost curves ([`crate::curves`]), one server at a time.

use std::time::{Duration, Instant};

use crate::client::{Endpoint, Target};
use crate::curves::{self, CurveParams, Curves};
use crate::scenario::ceiling::{self, CeilingParams, CeilingResult};
use crate::scenario::chat::{self, ChatParams, ChatResult};
use crate::scenario::cluster::{self, ClusterParams, ClusterResult};
use crate::scenario::echo::{EchoParams, EchoResult, EchoSession};
use crate::scenario::fanout::{FanoutParams, FanoutResult, FanoutSession};
use crate::scenario::idle::{self, IdleParams, IdleResult};
use crate::scenario::idle_max::{self, IdleMaxResult};
use crate::scenario::mixed::{MixedResult, MixedSession};
use crate::scenario::net;
use crate::scenario::soak::{self, SoakParams, SoakResult};
use crate::servers::{self, Programs, Server, ServerKind};

/// Uncounted round trips at the start of each echo slice, so every counted one starts
/// from a warm socket.
const SLICE_WARMUP: Duration = Duration::from_millis(200);

/// Everything one comparison runs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CompareParams {
    /// Runs of every server × scenario.
    pub runs: usize,
    /// The servers, in the order they run.
    pub servers: Vec<ServerKind>,
    /// The echo scenario.
    pub echo: EchoParams,
    /// The idle scenario.
    pub idle: IdleParams,
    /// The fan-out scenario.
    pub fanout: FanoutParams,
    /// At most this many connections in idle-max (the file limit decides when `None`).
    #[serde(default)]
    pub idle_max_cap: Option<usize>,
    /// The net scenario (Switchboard only): subscribers on one node, the publisher on the other.
    pub net: FanoutParams,
    /// The core servers are pinned to, if any (the generator pins itself elsewhere).
    pub server_core: Option<usize>,
    /// The chat scenario (Switchboard only); it runs again with one say in flight.
    #[serde(default)]
    pub chat: ChatParams,
    /// The soak (Switchboard only, when `soak` is among the scenarios).
    #[serde(default)]
    pub soak: SoakParams,
    /// The cost curves (when any of their scenarios is among the scenarios).
    #[serde(default)]
    pub curves: CurveParams,
    /// The cluster scenario (Switchboard only).
    #[serde(default)]
    pub cluster: ClusterParams,
    /// Which scenarios run: any of `idle`, `echo`, `fanout`, `idle-max`, `net`, `chat`,
    /// `soak`, and the curves' (`curves` for all of them).
    pub scenarios: Vec<String>,
    /// Slices each server's echo and fan-out time is cut into, taken in turn with the other
    /// servers' (1 for results made before servers took turns: one stretch each).
    #[serde(default = "one_slice")]
    pub slices: u32,
    /// Fan-out runs a second time with this many frames in flight (0: not at all), deep
    /// enough that the servers, not the publisher's window, set the rate.
    #[serde(default)]
    pub deep_window: u64,
    /// Frames a second the mixed scenario's broadcast publishes (within the fan-out's window).
    #[serde(default = "mixed_rate")]
    pub mixed_rate: f64,
    /// Fan-out runs once more for each of these windows (shallow ones: each published frame
    /// waits for the deliveries of the few before it), before the usual window.
    #[serde(default)]
    pub shallow_windows: Vec<u64>,
}

fn one_slice() -> u32 {
    1
}

fn mixed_rate() -> f64 {
    400.0
}

impl CompareParams {
    /// Whether `name` runs; `curves` stands for every curve.
    pub fn runs_scenario(&self, name: &str) -> bool {
        self.scenarios
            .iter()
            .any(|s| s == name || (s == "curves" && curves::SCENARIOS.contains(&name)))
    }
}

/// One server's results in one run; a scenario that failed has `None` and an error line.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ServerRun {
    /// The server.
    pub kind: ServerKind,
    /// The idle scenario's result.
    pub idle: Option<IdleResult>,
    /// The echo scenario's result.
    pub echo: Option<EchoResult>,
    /// The fan-out scenario's result.
    pub fanout: Option<FanoutResult>,
    /// Idle at the file limit (Switchboard only).
    #[serde(default)]
    pub idle_max: Option<IdleMaxResult>,
    /// The net scenario's result (Switchboard only).
    #[serde(default)]
    pub net: Option<FanoutResult>,
    /// Fan-out with `deep_window` frames in flight.
    #[serde(default)]
    pub fanout_deep: Option<FanoutResult>,
    /// Fan-out with each of `shallow_windows` frames in flight, in that order (`None` where
    /// it failed).
    #[serde(default)]
    pub fanout_shallow: Vec<Option<FanoutResult>>,
    /// A broadcast and echo clients on the server at once.
    #[serde(default)]
    pub mixed: Option<MixedResult>,
    /// The chat scenario's result (Switchboard only).
    #[serde(default)]
    pub chat: Option<ChatResult>,
    /// The chat scenario with one say in flight (Switchboard only).
    #[serde(default)]
    pub chat_one: Option<ChatResult>,
    /// The loopback ceiling under the chat (measured with Switchboard's run).
    #[serde(default)]
    pub chat_ceiling: Option<CeilingResult>,
    /// The soak's result (Switchboard only).
    #[serde(default)]
    pub soak: Option<SoakResult>,
    /// The cost curves' points.
    #[serde(default)]
    pub curves: Curves,
    /// The cluster scenario's result (Switchboard only).
    #[serde(default)]
    pub cluster: Option<ClusterResult>,
    /// What went wrong, if anything.
    pub errors: Vec<String>,
}

/// The machine the numbers come from.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Machine {
    /// Online CPUs.
    pub nproc: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// Kernel release.
    pub kernel: String,
    /// The generator's open-file limit (servers inherit it).
    pub fd_limit: u64,
    /// `node --version`.
    pub node: String,
    /// `/proc/loadavg`'s 1, 5 and 15-minute load averages when the comparison started.
    #[serde(default)]
    pub load_start: String,
}

/// The 1, 5 and 15-minute load averages now, from `/proc/loadavg`.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" / ")
}

impl Machine {
    /// Reads what this machine is.
    pub fn detect(fd_limit: u64) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned();
        let node = std::process::Command::new("node")
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .unwrap_or_default()
            .trim()
            .to_owned();
        Self {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            kernel,
            fd_limit,
            node,
            load_start: load_average(),
        }
    }
}

/// A finished comparison.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Comparison {
    /// What was run.
    pub params: CompareParams,
    /// Where.
    pub machine: Machine,
    /// The command line that ran it.
    pub command: String,
    /// `runs[r]` holds every server's results in run r.
    pub runs: Vec<Vec<ServerRun>>,
    /// Wall time of the whole comparison.
    pub elapsed_s: f64,
    /// The load averages when it ended (see [`Machine::load_start`]).
    #[serde(default)]
    pub load_end: String,
}

impl Comparison {
    /// Reads a comparison from its `results.json`, filling in what older results left
    /// implicit (the one depth of a fan-out curve measured at a single depth).
    pub fn from_json(json: &[u8]) -> anyhow::Result<Self> {
        let mut comparison: Self = serde_json::from_slice(json)?;
        if let Some(&window) = comparison.params.curves.windows.first() {
            for r in comparison.runs.iter_mut().flatten() {
                r.curves.fill_window(window);
            }
        }
        Ok(comparison)
    }
}

impl ServerRun {
    /// A run of `kind` with nothing measured yet.
    pub(crate) fn new(kind: ServerKind) -> Self {
        Self {
            kind,
            idle: None,
            echo: None,
            fanout: None,
            idle_max: None,
            net: None,
            fanout_deep: None,
            fanout_shallow: Vec::new(),
            chat: None,
            chat_one: None,
            chat_ceiling: None,
            mixed: None,
            soak: None,
            curves: Curves::default(),
            cluster: None,
            errors: Vec::new(),
        }
    }
}

/// Gives each of `sessions` (a server's place in `results`, and its session) its `slices` in
/// turn, `slice(session, round)` taking one; a session whose slice fails has the error noted
/// against its server (`what: error`) and takes no more turns. The sessions that never
/// failed come back, in their order.
async fn take_turns<S>(
    mut sessions: Vec<(usize, S)>,
    slices: u32,
    results: &mut [ServerRun],
    what: &str,
    mut slice: impl AsyncFnMut(&mut S, usize) -> anyhow::Result<()>,
) -> Vec<(usize, S)> {
    let mut failed = vec![false; sessions.len()];
    for (round, turn) in turns(sessions.len(), slices) {
        if failed[turn] {
            continue;
        }
        let (at, session) = &mut sessions[turn];
        if let Err(e) = slice(session, round).await {
            results[*at].errors.push(format!("{what}: {e:#}"));
            failed[turn] = true;
        }
    }
    sessions
        .into_iter()
        .zip(failed)
        .filter_map(|(session, failed)| (!failed).then_some(session))
        .collect()
}

/// The order of slices for `servers` servers with `slices` each: `(round, server)`. Each
/// pass gives every server one slice, and each pass starts one server later, so no server
/// always goes first or always follows the same one.
fn turns(servers: usize, slices: u32) -> impl Iterator<Item = (usize, usize)> {
    (0..servers * slices as usize).map(move |round| (round, (round + round / servers) % servers))
}

/// Idle on a fresh process of `kind`.
async fn run_idle(
    kind: ServerKind,
    programs: &Programs,
    params: &CompareParams,
    result: &mut ServerRun,
) {
    eprintln!("  {}: idle", kind.short());
    match servers::start(kind, programs, params.server_core).await {
        Ok(server) => {
            match idle::run(&Target::of(&server), server.pid, params.idle).await {
                Ok(r) => result.idle = Some(r),
                Err(e) => result.errors.push(format!("idle: {e:#}")),
            }
            server.stop().await;
        }
        Err(error) => result.errors.push(format!("start: {error:#}")),
    }
}

/// Echo and fan-out on one fresh process of each server, all running at once, each
/// server's slices taken in turn.
async fn run_interleaved(programs: &Programs, params: &CompareParams, results: &mut [ServerRun]) {
    let slices = params.slices.max(1);
    let mut running: Vec<(usize, Server)> = Vec::new();
    for (at, result) in results.iter_mut().enumerate() {
        match servers::start(result.kind, programs, params.server_core).await {
            Ok(server) => running.push((at, server)),
            Err(error) => result.errors.push(format!("start: {error:#}")),
        }
    }
    if params.runs_scenario("echo") {
        eprintln!("  echo, {slices} slices per server");
        let mut sessions = Vec::new();
        for (at, server) in &running {
            match EchoSession::open(&Target::of(server), server.pid, params.echo).await {
                Ok(session) => sessions.push((*at, session)),
                Err(e) => results[*at].errors.push(format!("echo: {e:#}")),
            }
        }
        let count = params.echo.duration / slices;
        for (round, turn) in turns(sessions.len(), slices) {
            let warm = if round < sessions.len() {
                params.echo.warmup
            } else {
                SLICE_WARMUP
            };
            sessions[turn].1.slice(warm, count).await;
        }
        for (at, session) in sessions {
            match session.finish().await {
                Ok(r) => results[at].echo = Some(r),
                Err(e) => results[at].errors.push(format!("echo: {e:#}")),
            }
        }
        settle().await;
    }
    if params.runs_scenario("fanout") {
        for (at, &window) in params.shallow_windows.iter().enumerate() {
            let shallow = FanoutParams {
                window,
                ..params.fanout
            };
            interleave_fanout(params, &running, results, shallow, |r, f| {
                r.fanout_shallow.push(Some(f))
            })
            .await;
            for r in results.iter_mut() {
                r.fanout_shallow.resize(at + 1, None);
            }
            settle().await;
        }
        interleave_fanout(params, &running, results, params.fanout, |r, f| {
            r.fanout = Some(f)
        })
        .await;
        if params.deep_window > 0 {
            settle().await;
            let deep = FanoutParams {
                window: params.deep_window,
                ..params.fanout
            };
            interleave_fanout(params, &running, results, deep, |r, f| {
                r.fanout_deep = Some(f)
            })
            .await;
        }
    }
    if params.runs_scenario("mixed") {
        settle().await;
        interleave_mixed(params, &running, results).await;
    }
    for (_, server) in running {
        server.stop().await;
    }
}

/// A broadcast and echo clients at once on every running server, each server's slices
/// taken in turn.
async fn interleave_mixed(
    params: &CompareParams,
    running: &[(usize, Server)],
    results: &mut [ServerRun],
) {
    let slices = params.slices.max(1);
    eprintln!(
        "  mixed: {} frames/s to {} subscribers and {} echo clients at once, {slices} slices per server",
        params.mixed_rate, params.fanout.subscribers, params.echo.clients
    );
    let mut sessions = Vec::new();
    for (at, server) in running {
        let target = Target::of(server);
        let opened = MixedSession::open(
            &target,
            server.pid,
            params.echo,
            params.fanout,
            params.mixed_rate,
        );
        match opened.await {
            Ok(session) => sessions.push((*at, session)),
            Err(e) => results[*at].errors.push(format!("mixed: {e:#}")),
        }
    }
    let count = params.echo.duration / slices;
    let first_pass = sessions.len();
    let sessions = take_turns(
        sessions,
        slices,
        results,
        "mixed",
        async |session, round| {
            let warm = if round < first_pass {
                params.echo.warmup
            } else {
                SLICE_WARMUP
            };
            session.slice(warm, count).await
        },
    )
    .await;
    for (at, session) in sessions {
        match session.finish().await {
            Ok(r) => results[at].mixed = Some(r),
            Err(e) => results[at].errors.push(format!("mixed: {e:#}")),
        }
    }
}

/// Fan-out with `fanout` on every running server, each server's slices taken in turn;
/// `keep` stores a server's result.
async fn interleave_fanout(
    params: &CompareParams,
    running: &[(usize, Server)],
    results: &mut [ServerRun],
    fanout: FanoutParams,
    keep: fn(&mut ServerRun, FanoutResult),
) {
    let slices = params.slices.max(1);
    eprintln!(
        "  fan-out, {} frames in flight, {slices} slices per server",
        fanout.window
    );
    let mut sessions = Vec::new();
    for (at, server) in running {
        let target = Target::of(server);
        let subscribers_at = std::slice::from_ref(&target);
        let pids = [server.pid];
        let opened =
            FanoutSession::open(subscribers_at, &target, &pids, Endpoint::Broadcast, fanout);
        match opened.await {
            Ok(session) => sessions.push((*at, session)),
            Err(e) => results[*at].errors.push(format!("fanout: {e:#}")),
        }
    }
    let slice = fanout.duration / slices;
    let sessions = take_turns(sessions, slices, results, "fanout", async |session, _| {
        session.slice(slice).await
    })
    .await;
    for (at, session) in sessions {
        match session.finish().await {
            Ok(r) => keep(&mut results[at], r),
            Err(e) => results[at].errors.push(format!("fanout: {e:#}")),
        }
    }
}

async fn switchboard_only(programs: &Programs, params: &CompareParams, result: &mut ServerRun) {
    if params.runs_scenario("idle-max") {
        eprintln!("  switchboard: idle at the file limit");
        settle().await;
        match servers::start(ServerKind::Switchboard, programs, params.server_core).await {
            Ok(server) => {
                let target = Target::of(&server);
                let run = idle_max::run(&programs.bench, &target, server.pid, params.idle_max_cap);
                match run.await {
                    Ok(r) => result.idle_max = Some(r),
                    Err(e) => result.errors.push(format!("idle-max: {e:#}")),
                }
                server.stop().await;
            }
            Err(e) => result.errors.push(format!("idle-max start: {e:#}")),
        }
    }
    if params.runs_scenario("net") {
        eprintln!("  switchboard: net");
        settle().await;
        match servers::start_pair(programs, params.server_core).await {
            Ok(pair) => {
                match net::run(&pair, params.net).await {
                    Ok(r) => result.net = Some(r),
                    Err(e) => result.errors.push(format!("net: {e:#}")),
                }
                pair.alice.stop().await;
                pair.bob.stop().await;
            }
            Err(e) => result.errors.push(format!("net start: {e:#}")),
        }
    }
    if params.runs_scenario("chat") {
        let one = ChatParams {
            window: 1,
            ..params.chat
        };
        for (chat, keep) in [(params.chat, &mut result.chat), (one, &mut result.chat_one)] {
            eprintln!(
                "  switchboard: chat, {} members, {} says in flight",
                chat.members, chat.window
            );
            settle().await;
            match servers::start(ServerKind::Switchboard, programs, params.server_core).await {
                Ok(server) => {
                    match chat::run(&Target::of(&server), server.pid, chat).await {
                        Ok(r) => *keep = Some(r),
                        Err(e) => result.errors.push(format!("chat: {e:#}")),
                    }
                    server.stop().await;
                }
                Err(e) => result.errors.push(format!("chat start: {e:#}")),
            }
        }
        let ceiling = CeilingParams {
            connections: params.chat.members,
            events_per_write: params.chat.window as usize,
            duration: params.chat.duration,
        };
        eprintln!(
            "  loopback ceiling: {} sockets, {} message frames a write",
            ceiling.connections, ceiling.events_per_write
        );
        settle().await;
        match ceiling::run(programs, params.server_core, ceiling).await {
            Ok(r) => result.chat_ceiling = Some(r),
            Err(e) => result.errors.push(format!("loopback ceiling: {e:#}")),
        }
    }
    if params.runs_scenario("cluster") {
        eprintln!(
            "  switchboard: cluster of {} instances against one node, {} subscribers",
            params.cluster.instances, params.cluster.fanout.subscribers
        );
        settle().await;
        let run = cluster::run(programs, params.server_core, params.cluster, params.slices);
        match run.await {
            Ok(r) => result.cluster = Some(r),
            Err(e) => result.errors.push(format!("cluster: {e:#}")),
        }
    }
    if params.runs_scenario("soak") {
        run_soak(programs, params, result).await;
    }
}

/// The soak, on a fresh pair of linked nodes; its failures are also the run's errors.
async fn run_soak(programs: &Programs, params: &CompareParams, result: &mut ServerRun) {
    eprintln!(
        "  switchboard: soak for {} s",
        params.soak.duration.as_secs()
    );
    settle().await;
    match soak::run(programs, params.server_core, params.soak).await {
        Ok(r) => {
            for failure in &r.failures {
                result.errors.push(format!("soak: {failure}"));
            }
            result.soak = Some(r);
        }
        Err(e) => result.errors.push(format!("soak: {e:#}")),
    }
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Runs the whole comparison.
pub async fn run(
    params: CompareParams,
    programs: &Programs,
    machine: Machine,
    command: String,
) -> Comparison {
    let started = Instant::now();
    let mut runs = Vec::with_capacity(params.runs);
    for run in 0..params.runs {
        eprintln!("run {} of {}", run + 1, params.runs);
        let mut results: Vec<ServerRun> =
            params.servers.iter().map(|&k| ServerRun::new(k)).collect();
        if params.runs_scenario("idle") {
            for result in &mut results {
                run_idle(result.kind, programs, &params, result).await;
                settle().await;
            }
        }
        if ["echo", "fanout", "mixed"]
            .iter()
            .any(|s| params.runs_scenario(s))
        {
            run_interleaved(programs, &params, &mut results).await;
            settle().await;
        }
        for result in &mut results {
            if result.kind == ServerKind::Switchboard {
                switchboard_only(programs, &params, result).await;
            }
        }
        if curves::any_wanted(|s| params.runs_scenario(s)) {
            let wants = |s: &str| params.runs_scenario(s);
            curves::run(
                programs,
                params.server_core,
                &params.curves,
                wants,
                &mut results,
            )
            .await;
        }
        for result in &results {
            for error in &result.errors {
                eprintln!("  {}: {error}", result.kind.short());
            }
        }
        runs.push(results);
    }
    Comparison {
        params,
        machine,
        command,
        runs,
        elapsed_s: started.elapsed().as_secs_f64(),
        load_end: load_average(),
    }
}

#[cfg(test)]
mod tests {
    use super::turns;

    #[test]
    fn every_server_gets_its_slices_and_the_first_one_rotates() {
        let order: Vec<usize> = turns(3, 4).map(|(_, server)| server).collect();
        assert_eq!(order, [0, 1, 2, 1, 2, 0, 2, 0, 1, 0, 1, 2]);
        for server in 0..3 {
            assert_eq!(order.iter().filter(|&&s| s == server).count(), 4);
        }
        assert_eq!(turns(0, 5).count(), 0);
    }
}
