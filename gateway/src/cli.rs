//! The `switchboard` command line: `run` and `token`. Parsing and wiring only; the work is
//! done by [`crate::node`] and [`crate::auth`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{Config, DEFAULT_NODE};
use crate::home;

/// Switchboard: a process-message WebSocket gateway.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node until SIGINT or SIGTERM.
    Run {
        /// The node's home directory (created on first run).
        #[arg(long, default_value = "./switchboard-home")]
        home: PathBuf,
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// The node's name (remembered in the home; default local.os).
        #[arg(long)]
        node: Option<String>,
    },
    /// Print a token for the home's node.
    Token {
        /// The node's home directory.
        #[arg(long, default_value = "./switchboard-home")]
        home: PathBuf,
        /// How long the token lives, in seconds.
        #[arg(long, default_value_t = 7 * 24 * 3600)]
        ttl: u64,
    },
}

/// The node name for `home`: the one given, else the one it remembers, else the default.
/// A name that is given is remembered.
fn node_name(home: &Path, given: Option<String>) -> anyhow::Result<String> {
    let mut config = home::read_config(home)?;
    match given {
        Some(name) => {
            process_lib::address::validate_node_name(&name)
                .with_context(|| format!("invalid node name {name:?}"))?;
            if config.node.as_deref() != Some(name.as_str()) {
                config.node = Some(name.clone());
                home::write_config(home, &config)?;
            }
            Ok(name)
        }
        None => Ok(config.node.unwrap_or_else(|| DEFAULT_NODE.to_owned())),
    }
}

/// `switchboard run`: starts the node, prints `listening on ws://…/`, and stops on a signal.
pub async fn run(home: PathBuf, bind: SocketAddr, node: Option<String>) -> anyhow::Result<()> {
    home::ensure_home(&home)?;
    let mut config = Config::new(home.clone());
    config.bind = bind;
    config.node = node_name(&home, node)?;
    let node = crate::node::start(config, crate::node::bundled_processes()).await?;
    println!("listening on {}", node.ws_url());
    use std::io::Write;
    std::io::stdout().flush().ok();
    wait_for_signal().await?;
    tracing::info!("signal received; shutting down");
    node.shutdown().await;
    Ok(())
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

/// `switchboard token`: prints a token for the home's node.
pub fn token(home: PathBuf, ttl: u64) -> anyhow::Result<()> {
    if !home.is_dir() {
        anyhow::bail!(
            "no node home at {}: run `switchboard run --home {}` first, or pass --home",
            home.display(),
            home.display()
        );
    }
    let node = node_name(&home, None)?;
    let secret = home::load_or_create_secret(&home)?;
    let auth = crate::auth::Auth::new(&node, &secret);
    println!("{}", auth.mint(Duration::from_secs(ttl)));
    Ok(())
}
