//! The `switchboard` command line. This file holds the argument definitions; each command's
//! wiring lives in a file of its own, and the work is done by the library modules.
//!
//! - [`run`]: `switchboard run`. [`token`]: `switchboard token`. [`id`]: `switchboard id`.

pub mod id;
pub mod run;
pub mod token;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

use clap::{Parser, Subcommand};

use crate::config::DEFAULT_NODE;
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
        /// Address to listen for peer nodes on (default: `net_bind` in config.toml, else off).
        #[arg(long)]
        net_bind: Option<SocketAddr>,
        /// A peer, added to those in config.toml:
        /// `name=NODE,key=HEX[,address=HOST:PORT][,trust]` (repeatable).
        #[arg(long = "peer")]
        peers: Vec<crate::net::PeerConfig>,
    },
    /// Print the node's name, public key and net address (creates the key pair if needed).
    Id {
        /// The node's home directory.
        #[arg(long, default_value = "./switchboard-home")]
        home: PathBuf,
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
pub fn node_name(home: &Path, given: Option<String>) -> anyhow::Result<String> {
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

/// Runs a parsed command line.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Token { home, ttl } => token::token(home, ttl),
        Command::Id { home } => id::id(home),
        Command::Run {
            home,
            bind,
            node,
            net_bind,
            peers,
        } => block_on(run::run(home, bind, node, run::NetArgs { net_bind, peers })),
    }
}

/// Runs `future` on a multi-threaded tokio runtime.
pub fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(
    future: F,
) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)?
        .block_on(future)
}
