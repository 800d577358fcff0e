//! # gateway
//!
//! The Switchboard runtime. A node is a kernel that runs processes as tokio tasks, an
//! http-server module that gives WebSocket clients channels to those processes, and the
//! `switchboard` binary around them. Tests start nodes through [`node::start`] on port 0.
//!
//! ## Layout
//! - [`node`]: start and stop a node (`start`, `RunningNode`, `bundled_processes`).
//! - [`runtime`]: the one state struct every module shares; it hosts processes.
//! - [`kernel`]: the process table, routing, supervision and restarts.
//! - [`http`]: the http-server module — upgrades, register flow, channels, writer queues.
//! - [`net`]: node-to-node links (Noise over TCP), remote requests and pushes.
//! - [`server`]: the accept loop (TCP_NODELAY, peer address, shutdown).
//! - [`auth`], [`home`], [`config`]: tokens, the node's home directory, settings.
//! - [`password`]: the node password's Argon2id hash. [`tls`]: https/wss with rustls.
//! - [`builder`]: [`Switchboard`], the command line with a process author's processes.
//! - [`cli`]: the command line the binary runs.

pub mod auth;
pub mod builder;
pub mod cli;
pub mod config;
pub mod home;
pub mod http;
pub mod kernel;
pub mod net;
pub mod node;
pub mod password;
pub mod runtime;
pub mod server;
pub mod tls;

pub use builder::{ProcessListError, Switchboard};
pub use config::Config;
pub use kernel::ProcessSpec;
pub use node::{bundled_processes, start, RunningNode, StartError};
