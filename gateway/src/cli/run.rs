//! `switchboard run`: starts the node, prints `listening on ws://…/` (`wss://` with TLS),
//! stops on a signal. A fresh home gets a random password, printed once on stderr.

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
    metrics_bind: Option<SocketAddr>,
) -> anyhow::Result<()> {
    home::ensure_home(&home)?;
    raise_open_file_limit();
    let mut config = Config::new(home.clone());
    config.bind = bind;
    config.node = super::node_name(&home, node)?;
    web.apply(&home, &mut config)?;
    let remembered = home::read_config(&home)?;
    net.apply(&remembered, &mut config.net);
    config.metrics_bind = metrics_bind.or(remembered.metrics_bind);
    let node = crate::node::start(config, crate::node::bundled_processes()).await?;
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
    if let Some(addr) = node.metrics_addr() {
        println!("metrics listening on http://{addr}/metrics");
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
