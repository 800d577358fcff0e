//! `switchboard-bench`: runs the side-by-side comparison and writes `RESULTS.md`,
//! `results.png` (and `curves.png` for the cost curves) and the raw `out/results.json`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchboard_bench::compare::{self, CompareParams, Machine};
use switchboard_bench::curves::{CurveParams, IdleSize};
use switchboard_bench::scenario::chat::ChatParams;
use switchboard_bench::scenario::cluster::ClusterParams;
use switchboard_bench::scenario::echo::EchoParams;
use switchboard_bench::scenario::fanout::FanoutParams;
use switchboard_bench::scenario::idle::IdleParams;
use switchboard_bench::scenario::idle_max;
use switchboard_bench::scenario::soak::SoakParams;
use switchboard_bench::servers::{Programs, ServerKind};
use switchboard_bench::{chart, curves_chart, raise_fd_limit, report, soak_chart};

/// Every name `--scenarios` takes.
const SCENARIOS: [&str; 14] = [
    "idle",
    "echo",
    "fanout",
    "mixed",
    "idle-max",
    "net",
    "chat",
    "cluster",
    "soak",
    "curves",
    "fanout-curve",
    "echo-curve",
    "idle-curve",
    "open-loop",
];

#[derive(Debug, Parser)]
#[command(
    name = "switchboard-bench",
    about = "Switchboard's side-by-side benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs every server through every scenario N times and writes the report.
    Compare(Box<CompareArgs>),
    /// Rewrites RESULTS.md and its charts from the last run's out/results.json (after
    /// editing findings.md, say); measures nothing.
    Report {
        /// Where RESULTS.md, results.png and out/ are.
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR")))]
        out: PathBuf,
    },
    /// Runs the bundled echo function outside a node, over its process socket, until the
    /// connection ends (the `switchboard-outside` server starts this beside its node).
    OutsideEcho {
        /// The node's process socket, `ws://ADDR/process`.
        #[arg(long)]
        url: String,
        /// A process token for the id to run as.
        #[arg(long)]
        token: String,
    },
    /// Runs the cluster scenario's publishing process (`fanout:bench:ext`) outside a node,
    /// over its process socket, until the connection ends.
    OutsideFanout {
        /// The node's process socket, `ws://ADDR/process`.
        #[arg(long)]
        url: String,
        /// A process token for `fanout:bench:ext`.
        #[arg(long)]
        token: String,
    },
    /// Writes chunks of chat message frames to N loopback sockets in turn, as fast as one
    /// core can, with nothing else between the writes (the chat's loopback ceiling starts
    /// this pinned to the servers' core; it goes when a line arrives on stdin).
    LoopbackWriter {
        /// Sockets to accept and write to.
        #[arg(long)]
        connections: usize,
        /// Message frames in each write.
        #[arg(long)]
        events: usize,
        /// Seconds to write.
        #[arg(long)]
        secs: f64,
    },
    /// Opens idle connections and holds them until stdin ends (the idle-max scenario starts
    /// these; each process can hold only its own file limit's worth).
    IdleWorker {
        /// The server's WebSocket address.
        #[arg(long)]
        addr: std::net::SocketAddr,
        /// A token, for Switchboard's register flow.
        #[arg(long)]
        token: Option<String>,
        /// Connections to open.
        #[arg(long)]
        count: usize,
        /// Connection attempts in flight at once.
        #[arg(long, default_value_t = 128)]
        concurrency: usize,
    },
}

#[derive(Debug, clap::Args)]
struct CompareArgs {
    /// Runs of the whole set (medians need at least 3).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Servers to compare, comma-separated: switchboard, switchboard-outside (echo run outside
    /// the node), switchboard-python (the Python SDK's echo), switchboard-base (another build
    /// of the node, put beside this binary as `switchboard-base`), tt-default, tt-4k, node-ws.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "switchboard,tt-default,tt-4k,node-ws"
    )]
    servers: Vec<String>,
    /// Seconds each echo run is counted.
    #[arg(long, default_value_t = 5.0)]
    echo_secs: f64,
    /// Echo clients.
    #[arg(long, default_value_t = 64)]
    echo_clients: usize,
    /// Payload bytes (echo and fan-out).
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Idle connections to hold at once.
    #[arg(long, default_value_t = 10_000)]
    idle_connections: usize,
    /// Fan-out subscribers.
    #[arg(long, default_value_t = 1_000)]
    subscribers: usize,
    /// Fan-out frames in flight at most.
    #[arg(long, default_value_t = 16)]
    window: u64,
    /// Seconds each fan-out run publishes.
    #[arg(long, default_value_t = 5.0)]
    fanout_secs: f64,
    /// Net subscribers (on one node; the publisher is on the other).
    #[arg(long, default_value_t = 100)]
    net_subscribers: usize,
    /// Net frames in flight at most.
    #[arg(long, default_value_t = 64)]
    net_window: u64,
    /// Seconds each net run publishes.
    #[arg(long, default_value_t = 5.0)]
    net_secs: f64,
    /// Chat members (publishers included).
    #[arg(long, default_value_t = 1_000)]
    chat_members: usize,
    /// Chat members that publish, taking turns.
    #[arg(long, default_value_t = 16)]
    chat_publishers: usize,
    /// Chat says in flight at most (the chat runs again with 1).
    #[arg(long, default_value_t = 16)]
    chat_window: u64,
    /// Seconds each chat run publishes.
    #[arg(long, default_value_t = 5.0)]
    chat_secs: f64,
    /// Cluster: instances of the clustered node.
    #[arg(long, default_value_t = 3)]
    cluster_instances: usize,
    /// Cluster: subscribers (spread over the instances).
    #[arg(long, default_value_t = 1_000)]
    cluster_subscribers: usize,
    /// Cluster: frames in flight at most.
    #[arg(long, default_value_t = 16)]
    cluster_window: u64,
    /// Cluster: seconds each of its four sessions publishes.
    #[arg(long, default_value_t = 5.0)]
    cluster_secs: f64,
    /// Seconds the soak runs.
    #[arg(long, default_value_t = 600.0)]
    soak_secs: f64,
    /// Seconds between the soak's samples.
    #[arg(long, default_value_t = 5.0)]
    soak_sample_secs: f64,
    /// Soak echo clients that connect, do a few round trips and close, over and over.
    #[arg(long, default_value_t = 16)]
    soak_churners: usize,
    /// Soak chat members (each says something every 200 ms).
    #[arg(long, default_value_t = 8)]
    soak_chat_members: usize,
    /// Seconds between the soak's slow readers (each must be cut with 1008).
    #[arg(long, default_value_t = 5.0)]
    soak_slow_secs: f64,
    /// Seconds between restarts of the soak's second node (the link flaps).
    #[arg(long, default_value_t = 20.0)]
    soak_flap_secs: f64,
    /// The servers of `--servers` the cost curves run for.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "switchboard,tt-default,tt-4k"
    )]
    curve_servers: Vec<String>,
    /// Subscriber counts of the fan-out curve.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    curve_subscribers: Vec<usize>,
    /// Client counts of the echo curve.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,1000,10000")]
    curve_clients: Vec<usize>,
    /// Connection counts of the idle curve; `max` is as many as the server's file limit allows.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000,max")]
    curve_idle: Vec<IdleSize>,
    /// The fan-out curve's depths, comma-separated: every subscriber count runs at each of
    /// these frames in flight at most (`--curve-window` is the same flag).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,16",
        alias = "curve-window"
    )]
    curve_windows: Vec<u64>,
    /// Seconds each echo and fan-out curve point, and the open loop, is counted.
    #[arg(long, default_value_t = 3.0)]
    curve_secs: f64,
    /// Open-loop echo clients.
    #[arg(long, default_value_t = 64)]
    open_loop_clients: usize,
    /// The open-loop rate, as a share of the highest echo rate a bare tokio-tungstenite
    /// server reached.
    #[arg(long, default_value_t = 0.5)]
    open_loop_share: f64,
    /// Scenarios to run, comma-separated: idle, echo, fanout, mixed (the fan-out and the echo
    /// on one server at once), idle-max, net, chat, cluster, and soak, which is not in the
    /// default set (the last five run for Switchboard only);
    /// and the cost curves, also not in the default set, one server at a time: fanout-curve,
    /// echo-curve, idle-curve, open-loop, or curves for all four.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "idle,echo,fanout,mixed,idle-max,net,chat,cluster"
    )]
    scenarios: Vec<String>,
    /// Do not pin servers and the generator to separate cores.
    #[arg(long)]
    no_pin: bool,
    /// Slices each server's echo and fan-out time is cut into; the servers take their
    /// slices in turn, so a drift in the machine's speed slows each of them alike.
    #[arg(long, default_value_t = 5)]
    slices: u32,
    /// Fan-out runs again with this many frames in flight, so the servers rather than the
    /// publisher's window set the rate (0 skips it).
    #[arg(long, default_value_t = 64)]
    deep_window: u64,
    /// Frames a second the mixed scenario's broadcast publishes to the fan-out's subscribers
    /// (within the fan-out's window) while the echo clients run.
    #[arg(long, default_value_t = 400.0)]
    mixed_rate: f64,
    /// Fan-out also runs with each of these windows first, comma-separated (empty: none).
    #[arg(long, value_parser = windows, default_value = "1,4")]
    shallow_windows: Windows,
    /// Where RESULTS.md, results.png and out/ go.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR")))]
    out: PathBuf,
}

/// A list of frames-in-flight counts that may be empty.
#[derive(Debug, Clone)]
struct Windows(Vec<u64>);

/// Parses `1,4` (or nothing, for none) into [`Windows`].
fn windows(text: &str) -> Result<Windows, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<u64>()
                .map_err(|_| format!("{part:?} is not a count of frames in flight"))
        })
        .collect::<Result<_, _>>()
        .map(Windows)
}

fn main() -> anyhow::Result<()> {
    let args = match Cli::parse().command {
        Command::Compare(args) => *args,
        Command::Report { out } => {
            let json = std::fs::read(out.join("out/results.json"))
                .context("no out/results.json: run compare first")?;
            let comparison = compare::Comparison::from_json(&json)?;
            return write_report(&comparison, &out);
        }
        Command::OutsideEcho { url, token } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let ran = runtime.block_on(process_lib::remote::run(&url, &token, |our| {
                println!("outside echo running as {our}");
                processes::echo::run(our)
            }))?;
            return ran;
        }
        Command::OutsideFanout { url, token } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let ran = runtime.block_on(process_lib::remote::run(&url, &token, |our| {
                println!("outside fan-out running as {our}");
                switchboard_bench::audience::run(our)
            }))?;
            return ran;
        }
        Command::LoopbackWriter {
            connections,
            events,
            secs,
        } => {
            raise_fd_limit();
            return switchboard_bench::scenario::ceiling::write_in_turn(connections, events, secs);
        }
        Command::IdleWorker {
            addr,
            token,
            count,
            concurrency,
        } => {
            raise_fd_limit();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let target = switchboard_bench::client::Target {
                addr,
                token,
                echo_process: "echo:echo:sys",
            };
            return runtime.block_on(idle_max::worker(&target, count, concurrency));
        }
    };
    for scenario in &args.scenarios {
        anyhow::ensure!(
            SCENARIOS.contains(&scenario.as_str()),
            "unknown scenario {scenario:?}; known: {}",
            SCENARIOS.join(", ")
        );
    }
    anyhow::ensure!(
        args.curve_secs > 0.0 && args.open_loop_share > 0.0 && args.open_loop_clients > 0,
        "--curve-secs, --open-loop-share and --open-loop-clients must be above zero"
    );
    anyhow::ensure!(
        !args.curve_windows.is_empty() && args.curve_windows.iter().all(|&w| w > 0),
        "--curve-windows takes one or more frame counts above zero, such as 1,16"
    );
    let fd_limit = raise_fd_limit();
    // Read before pinning: once pinned, this process sees one core.
    let machine = Machine::detect(fd_limit);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = !args.no_pin && cores >= 2;
    if pin {
        // The generator on core 1, before any runtime thread exists; servers go to core 0.
        let status = std::process::Command::new("taskset")
            .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
            .stdout(std::process::Stdio::null())
            .status()
            .context("taskset")?;
        anyhow::ensure!(status.success(), "taskset could not pin the generator");
    }
    let servers = args
        .servers
        .iter()
        .map(|s| ServerKind::from_short(s).with_context(|| format!("unknown server {s:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let params = CompareParams {
        runs: args.runs,
        servers,
        echo: EchoParams {
            clients: args.echo_clients,
            size: args.size,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs_f64(args.echo_secs),
        },
        idle: IdleParams {
            connections: args.idle_connections,
            concurrency: 128,
        },
        fanout: FanoutParams {
            subscribers: args.subscribers,
            size: args.size,
            window: args.window,
            duration: Duration::from_secs_f64(args.fanout_secs),
        },
        idle_max_cap: None,
        net: FanoutParams {
            subscribers: args.net_subscribers,
            size: args.size,
            window: args.net_window,
            duration: Duration::from_secs_f64(args.net_secs),
        },
        chat: ChatParams {
            members: args.chat_members,
            publishers: args.chat_publishers.min(args.chat_members),
            window: args.chat_window,
            duration: Duration::from_secs_f64(args.chat_secs),
        },
        soak: SoakParams {
            duration: Duration::from_secs_f64(args.soak_secs),
            sample_every: Duration::from_secs_f64(args.soak_sample_secs.max(0.1)),
            churners: args.soak_churners,
            chat_members: args.soak_chat_members,
            slow_every: Duration::from_secs_f64(args.soak_slow_secs.max(0.1)),
            flap_every: Duration::from_secs_f64(args.soak_flap_secs.max(1.0)),
            ..SoakParams::default()
        },
        curves: CurveParams {
            servers: args
                .curve_servers
                .iter()
                .map(|s| ServerKind::from_short(s).with_context(|| format!("unknown server {s:?}")))
                .collect::<anyhow::Result<Vec<_>>>()?,
            subscribers: args.curve_subscribers.clone(),
            echo_clients: args.curve_clients.clone(),
            idle: args.curve_idle.clone(),
            windows: distinct(&args.curve_windows),
            size: args.size,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs_f64(args.curve_secs),
            open_clients: args.open_loop_clients,
            open_share: args.open_loop_share,
        },
        cluster: ClusterParams {
            instances: args.cluster_instances,
            fanout: FanoutParams {
                subscribers: args.cluster_subscribers,
                size: args.size,
                window: args.cluster_window,
                duration: Duration::from_secs_f64(args.cluster_secs),
            },
        },
        server_core: pin.then_some(0),
        scenarios: args.scenarios.clone(),
        slices: args.slices.max(1),
        deep_window: args.deep_window,
        mixed_rate: args.mixed_rate,
        shallow_windows: args.shallow_windows.0.clone(),
    };
    // bench/run.sh says how it was called; otherwise this binary's own arguments.
    let command = std::env::var("BENCH_COMMAND").unwrap_or_else(|_| {
        let args: Vec<String> = std::env::args().skip(1).collect();
        format!("target/release/switchboard-bench {}", args.join(" "))
    });
    let programs = Programs::beside_current_exe()?;
    // One thread: the generator has one core, and a current-thread runtime wastes none of it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let comparison = runtime.block_on(compare::run(params, &programs, machine, command));

    std::fs::create_dir_all(args.out.join("out"))?;
    std::fs::write(
        args.out.join("out/results.json"),
        serde_json::to_vec_pretty(&comparison)?,
    )?;
    write_report(&comparison, &args.out)?;
    let soak_failed = comparison.runs.iter().flatten().any(|r| {
        r.soak.as_ref().is_some_and(|s| !s.failures.is_empty())
            || r.errors.iter().any(|e| e.starts_with("soak"))
    });
    anyhow::ensure!(!soak_failed, "the soak failed (see RESULTS.md)");
    Ok(())
}

/// `values` in their order, each once.
fn distinct(values: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(values.len());
    for &v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn write_report(comparison: &compare::Comparison, out: &std::path::Path) -> anyhow::Result<()> {
    let findings = std::fs::read_to_string(out.join("findings.md")).unwrap_or_default();
    std::fs::write(
        out.join("RESULTS.md"),
        report::render(comparison, &findings),
    )?;
    if chart::has_bars(comparison) {
        chart::draw(comparison, &out.join("results.png"))?;
    }
    if curves_chart::has_curves(comparison) {
        curves_chart::draw(comparison, &out.join("curves.png"))?;
    }
    if let Some(soak) = comparison
        .runs
        .iter()
        .flatten()
        .find_map(|r| r.soak.as_ref())
    {
        soak_chart::draw(soak, &out.join("soak.png"))?;
    }
    eprintln!("wrote {}", out.join("RESULTS.md").display());
    Ok(())
}
