//! The `switchboard` command line. This file holds the argument definitions; each command's
//! wiring lives in a file of its own, and the work is done by the library modules.
//!
//! - [`run`]: `switchboard run`, with a flag per setting ([`flags`]). [`config`]:
//!   `switchboard config`. [`token`]: `switchboard token`. [`passwd`]: `switchboard passwd`.
//!   [`id`]: `switchboard id`. [`logs`]: `--log-format` and the log subscriber.
//! - [`chat`]: `switchboard chat`, with [`chat_view`] turning chat events into lines.
//! - [`new`]: `switchboard new`, a crate for a node with the author's own process.
//!
//! The command line runs through [`crate::Switchboard::main`], which knows the processes.

pub mod chat;
pub mod chat_view;
pub mod config;
pub mod flags;
pub mod id;
pub mod logs;
pub mod new;
pub mod passwd;
pub mod run;
pub mod token;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::layers::{self, Layer, Layered};
use crate::kernel::ProcessSpec;

/// Switchboard: a process-message WebSocket gateway.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// How logs on stderr are written: `text` (default) or `json` (one object a line); also
    /// SWITCHBOARD_LOG_FORMAT.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<logs::LogFormat>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node until SIGINT or SIGTERM (a drain; a second signal stops at once).
    Run {
        /// The node's home directory, created on first run (also SWITCHBOARD_HOME; default
        /// ./switchboard-home).
        #[arg(long)]
        home: Option<PathBuf>,
        /// Every setting of config.toml, as a flag.
        #[command(flatten)]
        settings: flags::SettingFlags,
    },
    /// Print the settings a node with this home would run with, and where each came from.
    Config {
        /// The node's home directory (also SWITCHBOARD_HOME; default ./switchboard-home).
        #[arg(long)]
        home: Option<PathBuf>,
        /// Only check them: print nothing but the problems, and exit 1 when there are any.
        #[arg(long)]
        check: bool,
        /// Settings given as flags, as `run` takes them.
        #[command(flatten)]
        settings: flags::SettingFlags,
    },
    /// Print the node's name, public key and net address (creates the key pair if needed).
    Id {
        /// The node's home directory (also SWITCHBOARD_HOME; default ./switchboard-home).
        #[arg(long)]
        home: Option<PathBuf>,
    },
    /// Set the node password (from the terminal, or one line of stdin).
    Passwd {
        /// The node's home directory (also SWITCHBOARD_HOME; default ./switchboard-home).
        #[arg(long)]
        home: Option<PathBuf>,
    },
    /// Print a token for the home's node.
    Token {
        /// The node's home directory (also SWITCHBOARD_HOME; default ./switchboard-home).
        #[arg(long)]
        home: Option<PathBuf>,
        /// How long the token lives, in seconds.
        #[arg(long, default_value_t = 7 * 24 * 3600)]
        ttl: u64,
        /// Mint a process token instead: it lets a program outside the node be this process
        /// (`name:package:publisher`) on the process socket, and opens nothing else.
        #[arg(long, value_name = "ID")]
        process: Option<process_lib::ProcessId>,
    },
    /// Chat in a node's chat process from the terminal.
    Chat {
        /// The node's WebSocket URL; several (space- or comma-separated) for a node that runs
        /// as several instances: the first that answers is used, and the chat moves to
        /// another when it goes away.
        #[arg(
            value_name = "URL",
            default_value = "ws://127.0.0.1:8080/",
            value_delimiter = ','
        )]
        urls: Vec<String>,
        /// The token to register with (default: mint one from --home).
        #[arg(long, conflicts_with = "home")]
        token: Option<String>,
        /// The node's home, to mint a token from (also SWITCHBOARD_HOME; default
        /// ./switchboard-home).
        #[arg(long)]
        home: Option<PathBuf>,
        /// The chat process to join.
        #[arg(long, default_value = "chat:chat:sys")]
        process: String,
        /// A CA certificate (PEM) to trust for a wss:// node with a private or self-signed
        /// certificate.
        #[arg(long, value_name = "FILE")]
        ca_cert: Option<PathBuf>,
    },
    /// Write a crate for a node with a process of your own (a greeter to start from).
    New {
        /// Where to write it: a new or empty directory.
        path: PathBuf,
        /// The process's id (default: `NAME:NAME:local.os`, NAME the directory's name).
        #[arg(long, value_name = "NAME:PACKAGE:PUBLISHER")]
        process: Option<String>,
    },
}

/// The home used when none is given.
pub const DEFAULT_HOME: &str = "./switchboard-home";

/// The home directory: the flag's, else `SWITCHBOARD_HOME`, else the default; and which.
pub fn home_dir(given: Option<PathBuf>) -> (PathBuf, Layer) {
    match given {
        Some(home) => (home, Layer::Flag),
        None => match std::env::var_os(layers::HOME_ENV) {
            Some(home) if !home.is_empty() => (home.into(), Layer::Env),
            _ => (DEFAULT_HOME.into(), Layer::Default),
        },
    }
}

/// The settings of the node at `home`, from its file, the environment and `flags`.
pub fn settings(home: PathBuf, from: Layer, flags: &layers::Flags) -> anyhow::Result<Layered> {
    Ok(layers::load(home, from, &layers::process_env(), flags)?)
}

/// The name of the node at `home`, as its settings say (file, then environment).
pub fn node_name(home: &std::path::Path) -> anyhow::Result<String> {
    Ok(settings(home.to_owned(), Layer::Flag, &Vec::new())?
        .config
        .node)
}

/// The secret the node at `home` signs tokens with: the shared file its settings name
/// (`token_secret_file`: file, then environment), else the home's own.
pub fn node_secret(home: &std::path::Path) -> anyhow::Result<[u8; 32]> {
    let config = settings(home.to_owned(), Layer::Flag, &Vec::new())?.config;
    Ok(crate::home::token_secret(
        home,
        config.token_secret_file.as_deref(),
    )?)
}

/// Runs a parsed command line; `run` starts `processes`.
pub fn dispatch(cli: Cli, processes: Vec<ProcessSpec>) -> anyhow::Result<()> {
    match cli.command {
        Command::Token { home, ttl, process } => token::token(home_dir(home).0, ttl, process),
        Command::Id { home } => id::id(home_dir(home).0),
        Command::Run { home, settings } => {
            let (home, from) = home_dir(home);
            block_on(run::run(home, from, settings.given, processes))
        }
        Command::Config {
            home,
            check,
            settings,
        } => {
            let (home, from) = home_dir(home);
            config::config(home, from, &settings.given, check)
        }
        Command::Passwd { home } => passwd::passwd(home_dir(home).0),
        Command::Chat {
            urls,
            token,
            home,
            process,
            ca_cert,
        } => block_on(chat::chat(chat::ChatArgs {
            urls,
            token,
            home: home_dir(home).0,
            process,
            ca_cert,
        })),
        Command::New { path, process } => new::new(&path, process.as_deref()),
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
