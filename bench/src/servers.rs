//! The servers under test and how each is started: as its own process, optionally pinned to
//! a core with `taskset`, announcing itself with `listening on ws://ADDR/` on stdout.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A server the scenarios can run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ServerKind {
    /// The `switchboard` release binary; clients register to `echo:echo:sys` and
    /// `broadcast:broadcast:sys`.
    Switchboard,
    /// `tt-server` with tokio-tungstenite's default settings.
    TtDefault,
    /// `tt-server` with a 4 KiB read buffer.
    Tt4k,
    /// Node's `ws` (`node/server.mjs`).
    NodeWs,
}

impl ServerKind {
    /// Every kind, Switchboard first.
    pub const ALL: [ServerKind; 4] = [Self::Switchboard, Self::TtDefault, Self::Tt4k, Self::NodeWs];

    /// The name used in reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::Switchboard => "Switchboard",
            Self::TtDefault => "tokio-tungstenite (default)",
            Self::Tt4k => "tokio-tungstenite (4 KiB read buffer)",
            Self::NodeWs => "Node ws",
        }
    }

    /// A short name for charts and the command line.
    pub fn short(self) -> &'static str {
        match self {
            Self::Switchboard => "switchboard",
            Self::TtDefault => "tt-default",
            Self::Tt4k => "tt-4k",
            Self::NodeWs => "node-ws",
        }
    }

    /// Parses a short name.
    pub fn from_short(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.short() == name)
    }
}

/// Where the programs under test live.
#[derive(Debug, Clone)]
pub struct Programs {
    /// The `switchboard` binary.
    pub switchboard: PathBuf,
    /// The `tt-server` binary.
    pub tt_server: PathBuf,
    /// The directory holding `server.mjs` and its `node_modules`.
    pub node_dir: PathBuf,
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
            node_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("node"),
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
    _home: Option<tempfile::TempDir>,
}

/// Starts `kind`, pinned to `core` when given, and waits for its `listening on` line.
pub async fn start(
    kind: ServerKind,
    programs: &Programs,
    core: Option<usize>,
) -> anyhow::Result<Server> {
    let mut home = None;
    let mut token = None;
    let (program, args): (PathBuf, Vec<String>) = match kind {
        ServerKind::Switchboard => {
            let dir = tempfile::tempdir()?;
            let home_arg = dir.path().display().to_string();
            let out = Command::new(&programs.switchboard)
                .args(["token", "--home", &home_arg])
                .output()
                .await
                .with_context(|| format!("cannot run {}", programs.switchboard.display()))?;
            anyhow::ensure!(
                out.status.success(),
                "switchboard token failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            token = Some(String::from_utf8(out.stdout)?.trim().to_owned());
            home = Some(dir);
            let args = ["run", "--bind", "127.0.0.1:0", "--home", &home_arg];
            (
                programs.switchboard.clone(),
                args.map(String::from).to_vec(),
            )
        }
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
    let mut command = match core {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(core.to_string()).arg(&program);
            c
        }
        None => Command::new(&program),
    };
    command
        .args(&args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let pid = child.id().context("server exited at once")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .context("no `listening on` line in 20 s")??
        .context("server closed stdout before saying where it listens")?;
    let addr: SocketAddr = first
        .strip_prefix("listening on ws://")
        .and_then(|rest| rest.strip_suffix('/'))
        .with_context(|| format!("unexpected first line {first:?}"))?
        .parse()?;
    // Keep draining stdout so the server never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Server {
        kind,
        pid,
        addr,
        token,
        child,
        _home: home,
    })
}

impl Server {
    /// Stops the server (SIGKILL: its shutdown path is not what is measured).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
