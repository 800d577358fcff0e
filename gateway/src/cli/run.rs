//! `switchboard run`: starts the node with the processes it was given, prints
//! `listening on ws://…/` (`wss://` with TLS), stops on a signal.
//! A fresh home gets a random password, printed once on stderr.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

use crate::config::Config;
use crate::home;

/// `switchboard run`: starts the node, prints `listening on ws://…/`, and stops on a signal.
pub async fn run(
    home: PathBuf,
    bind: SocketAddr,
    node: Option<String>,
    web: super::web::WebArgs,
    net: NetArgs,
    cluster: ClusterArgs,
    processes: Vec<crate::kernel::ProcessSpec>,
) -> anyhow::Result<()> {
    home::ensure_home(&home)?;
    raise_open_file_limit();
    let mut config = Config::new(home.clone());
    config.bind = bind;
    config.node = super::node_name(&home, node)?;
    web.apply(&home, &mut config)?;
    let home_config = home::read_config(&home)?;
    net.apply(&home_config, &mut config.net);
    cluster.apply(&home_config, &mut config);
    let node = crate::node::start(config, processes).await?;
    // Only once the node runs, so a failed start says one thing and loses no password.
    if let Some(generated) = crate::password::ensure(&home)? {
        // Shown once, on stderr: stdout's first line belongs to scripts.
        eprintln!(
            "switchboard: this node had no password; its login password is: {generated}\n\
             switchboard: it is shown only now; change it with `switchboard passwd --home {}`",
            home.display()
        );
    }
    println!("listening on {}", node.ws_url());
    if let Some(addr) = node.net_addr() {
        println!("net listening on {addr}");
    }
    use std::io::Write;
    std::io::stdout().flush().ok();
    wait_for_signal().await?;
    tracing::info!("signal received; shutting down");
    node.shutdown().await;
    Ok(())
}

/// Every connection is a descriptor: lift the soft open-file limit to the hard one, so the
/// node holds as many connections as the machine lets one process have.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// The node-to-node flags of `run`.
#[derive(Debug, Default)]
pub struct NetArgs {
    /// `--net-bind`.
    pub net_bind: Option<SocketAddr>,
    /// `--peer`, repeated.
    pub peers: Vec<crate::net::PeerConfig>,
}

impl NetArgs {
    /// The home's settings with the flags on top (a flag's peer replaces one of the same name).
    pub fn apply(self, home: &home::HomeConfig, net: &mut crate::net::NetConfig) {
        net.bind = self.net_bind.or(home.net_bind);
        net.peers = home.peers.clone();
        for peer in self.peers {
            net.peers.retain(|p| p.name != peer.name);
            net.peers.push(peer);
        }
    }
}

/// The cluster flags of `run`.
#[derive(Debug, Default)]
pub struct ClusterArgs {
    /// `--cluster`.
    pub nats_url: Option<String>,
    /// `--token-secret-file`.
    pub token_secret_file: Option<PathBuf>,
}

/// The environment variable naming the NATS server of the node's cluster.
pub const CLUSTER_ENV: &str = "SWITCHBOARD_CLUSTER_NATS_URL";

impl ClusterArgs {
    /// The flags, else the environment, else the home's settings.
    pub fn apply(self, home: &home::HomeConfig, config: &mut Config) {
        let nats_url = self
            .nats_url
            .or_else(|| std::env::var(CLUSTER_ENV).ok().filter(|v| !v.is_empty()))
            .or_else(|| home.cluster_nats_url.clone());
        config.cluster = nats_url.map(crate::config::ClusterConfig::new);
        config.token_secret_file = self
            .token_secret_file
            .or_else(super::secret_file_from_env)
            .or_else(|| home.token_secret_file.clone());
    }
}
