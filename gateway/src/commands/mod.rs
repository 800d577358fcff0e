//! Programs the node runs for you: each `[[process]]` entry of the home's config
//! ([`crate::config::commands`]) is started once the node listens, told how to reach the
//! process socket, and kept running.
//!
//! A program gets the node's environment plus `SWITCHBOARD_URL` (the process socket,
//! `ws://127.0.0.1:PORT/process`), `SWITCHBOARD_TOKEN` (a process token for its id, minted
//! for each start), `SWITCHBOARD_PROCESS` (its id) and `SWITCHBOARD_NODE`, then the entry's
//! own `env`. It runs in a process group of its own, so a terminal's Ctrl-C reaches only the
//! node, which passes the stop on.
//!
//! ## Layout
//! - [`supervise`]: one program's life: start, wait, restart per its policy, stop.
//! - [`backoff`]: the jittered exponential delay between two starts.
//! - [`output`]: the program's stdout and stderr lines, written into the node's log.
//! - [`stop`]: SIGTERM to the program's group, SIGKILL after its timeout.

pub mod backoff;
pub mod output;
pub mod stop;
pub mod supervise;

use std::sync::Arc;
use std::time::Duration;

use process_lib::ProcessId;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::CommandConfig;

/// The environment variable that holds the process socket's URL.
pub const ENV_URL: &str = "SWITCHBOARD_URL";
/// The environment variable that holds the program's process token.
pub const ENV_TOKEN: &str = "SWITCHBOARD_TOKEN";
/// The environment variable that holds the program's process id.
pub const ENV_PROCESS: &str = "SWITCHBOARD_PROCESS";
/// The environment variable that holds the node's name.
pub const ENV_NODE: &str = "SWITCHBOARD_NODE";

/// Mints a process token for one start of a program.
pub type MintToken = Arc<dyn Fn(&ProcessId) -> String + Send + Sync>;

/// What every program is told about the node.
#[derive(Clone)]
pub struct Launch {
    /// The process socket's URL.
    pub url: String,
    /// The node's name.
    pub node: String,
    /// A fresh process token for an id.
    pub mint_token: MintToken,
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch")
            .field("url", &self.url)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// The supervisors of a node's programs.
#[derive(Debug)]
pub struct Commands {
    running: JoinSet<()>,
    longest_stop: Duration,
}

/// Starts a supervisor for each program; they stop their programs when `shutdown` fires.
pub fn start(
    commands: Vec<CommandConfig>,
    launch: Launch,
    shutdown: CancellationToken,
) -> Commands {
    let longest_stop = commands
        .iter()
        .map(|c| c.stop_timeout)
        .max()
        .unwrap_or_default();
    let mut running = JoinSet::new();
    for command in commands {
        running.spawn(supervise::supervise(
            command,
            launch.clone(),
            shutdown.clone(),
        ));
    }
    Commands {
        running,
        longest_stop,
    }
}

impl Commands {
    /// Waits until every program has been stopped (call after the shutdown fired): at most
    /// the longest stop timeout and the time the kernel takes to reap what was killed.
    pub async fn stopped(mut self) {
        let limit = self.longest_stop + Duration::from_secs(2);
        let all = async { while self.running.join_next().await.is_some() {} };
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!("some programs did not stop in time");
        }
    }
}
