//! The `switchboard` command line. This file holds the argument definitions; each command's
//! wiring lives in a file of its own, and the work is done by the library modules.
//!
//! - [`run`]: `switchboard run` (its browser and TLS flags: [`web`]). [`token`]: `switchboard
//!   token`. [`passwd`]: `switchboard passwd`. [`id`]: `switchboard id`.
//! - [`chat`]: `switchboard chat`, with [`chat_view`] turning chat events into lines.

pub mod chat;
pub mod chat_view;
pub mod id;
pub mod passwd;
pub mod run;
pub mod token;
pub mod web;

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
        /// Origins, TLS, token lifetime.
        #[command(flatten)]
        web: web::WebArgs,
        /// Address to listen for peer nodes on (default: `net_bind` in config.toml, else off).
        #[arg(long)]
        net_bind: Option<SocketAddr>,
        /// Address of the internal port serving /metrics, /health, /ready and /status
        /// (default: `metrics_bind` in config.toml, else off). Keep it off the public network.
        #[arg(long, value_name = "ADDR")]
        metrics_bind: Option<SocketAddr>,
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
    /// Set the node password (from the terminal, or one line of stdin).
    Passwd {
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
    /// Chat in a node's chat process from the terminal.
    Chat {
        /// The node's WebSocket URL.
        #[arg(default_value = "ws://127.0.0.1:8080/")]
        url: String,
        /// The token to register with (default: mint one from --home).
        #[arg(long, conflicts_with = "home")]
        token: Option<String>,
        /// The node's home, to mint a token from.
        #[arg(long, default_value = "./switchboard-home")]
        home: PathBuf,
        /// The chat process to join.
        #[arg(long, default_value = "chat:chat:sys")]
        process: String,
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
            web,
            net_bind,
            metrics_bind,
            peers,
        } => block_on(run::run(
            home,
            bind,
            node,
            web,
            run::NetArgs { net_bind, peers },
            metrics_bind,
        )),
        Command::Passwd { home } => passwd::passwd(home),
        Command::Chat {
            url,
            token,
            home,
            process,
        } => block_on(chat::chat(chat::ChatArgs {
            url,
            token,
            home,
            process,
        })),
    }
}

/// Task polls a busy worker makes between two looks at its sockets and timers (tokio's
/// default is 61; an idle worker looks at once, whatever this is).
///
/// A frame published to a thousand subscribers wakes a thousand writer tasks. Looking at
/// the sockets every 61 polls in the middle of that round lets the publisher's next frames
/// in while most writers have not run yet: the process pushes them at once, and every writer
/// that already ran is woken again for a frame or two. Fewer looks let a round finish
/// first, so each writer's next wake-up takes everything published meanwhile in one write.
/// With 64 frames in flight to 1,000 subscribers, that took a `sendto` from 24 frames to 58
/// (`bench/findings.md`). The cost: while more than this many tasks are ready, a socket
/// that became readable waits for up to this many polls before its task is woken.
const IO_POLL_INTERVAL: u32 = 1024;

/// Runs `future` on a multi-threaded tokio runtime.
pub fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(
    future: F,
) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .event_interval(IO_POLL_INTERVAL)
        .build()
        .map_err(anyhow::Error::from)?
        .block_on(future)
}
