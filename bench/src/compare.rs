//! The whole comparison: for each of N runs, each server in turn is started fresh, pinned to
//! its core, and put through idle (first, on a fresh process), echo, then fan-out. Switchboard
//! then also runs idle at its file limit (on another fresh process) and net (on two fresh,
//! linked nodes).

use std::time::{Duration, Instant};

use crate::client::Target;
use crate::scenario::echo::{self, EchoParams, EchoResult};
use crate::scenario::fanout::{self, FanoutParams, FanoutResult};
use crate::scenario::idle::{self, IdleParams, IdleResult};
use crate::scenario::idle_max::{self, IdleMaxResult};
use crate::scenario::net;
use crate::servers::{self, Programs, ServerKind};

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
    /// Which scenarios run: any of `idle`, `echo`, `fanout`, `idle-max`, `net`.
    pub scenarios: Vec<String>,
}

impl CompareParams {
    fn runs_scenario(&self, name: &str) -> bool {
        self.scenarios.iter().any(|s| s == name)
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
}

/// Runs one server through every scenario.
pub async fn run_server(
    kind: ServerKind,
    programs: &Programs,
    params: &CompareParams,
) -> ServerRun {
    let mut result = ServerRun {
        kind,
        idle: None,
        echo: None,
        fanout: None,
        idle_max: None,
        net: None,
        errors: Vec::new(),
    };
    let server = match servers::start(kind, programs, params.server_core).await {
        Ok(server) => server,
        Err(error) => {
            result.errors.push(format!("start: {error:#}"));
            return result;
        }
    };
    let target = Target::of(&server);
    if params.runs_scenario("idle") {
        eprintln!("  {}: idle", kind.short());
        match idle::run(&target, server.pid, params.idle).await {
            Ok(r) => result.idle = Some(r),
            Err(e) => result.errors.push(format!("idle: {e:#}")),
        }
    }
    if params.runs_scenario("echo") {
        eprintln!("  {}: echo", kind.short());
        match echo::run(&target, server.pid, params.echo).await {
            Ok(r) => result.echo = Some(r),
            Err(e) => result.errors.push(format!("echo: {e:#}")),
        }
        settle().await;
    }
    if params.runs_scenario("fanout") {
        eprintln!("  {}: fan-out", kind.short());
        match fanout::run(&target, server.pid, params.fanout).await {
            Ok(r) => result.fanout = Some(r),
            Err(e) => result.errors.push(format!("fanout: {e:#}")),
        }
    }
    server.stop().await;
    if kind == ServerKind::Switchboard {
        switchboard_only(programs, params, &mut result).await;
    }
    for error in &result.errors {
        eprintln!("  {}: {error}", kind.short());
    }
    result
}

/// The scenarios only Switchboard has: idle at the file limit, and net between two nodes,
/// each on fresh processes.
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
        let mut results = Vec::new();
        for &kind in &params.servers {
            results.push(run_server(kind, programs, &params).await);
            settle().await;
        }
        runs.push(results);
    }
    Comparison {
        params,
        machine,
        command,
        runs,
        elapsed_s: started.elapsed().as_secs_f64(),
    }
}
