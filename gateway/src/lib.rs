//! # gateway
//!
//! The Switchboard runtime. A node is a kernel that runs processes as tokio tasks, an
//! http-server module that gives WebSocket clients channels to those processes, a net module
//! that links it to peer nodes, and the `switchboard` binary around them. Tests start nodes
//! through [`node::start`] on port 0.
//!
//! ## Layout
//! Each folder holds one concern; arrows are imports, and none points back up.
//!
//! - [`node`]: start and stop a node (`start`, `RunningNode`, `bundled_processes`).
//! - [`runtime`]: the one state struct every module shares; [`runtime::route`] sends each
//!   message to a mailbox, a module (`http-server`, `net`), a peer node, or back.
//! - [`kernel`]: the process table and supervision (run, restart with backoff).
//! - [`server`]: the http-server module's doors — the accept loop and the routes that hand
//!   a connection to [`http`] or [`ws`], and the requests processes send the module.
//! - [`http`]: plain HTTP — login, pages, bound HTTP paths, the `Origin` check, errors.
//! - [`ws`]: WebSockets — admission (upgrade, register, bound paths, refusals), then each
//!   channel: its reader loop, the channel table, and [`ws::outbound`], the outbox, fast
//!   path and writer task that put pushes on the socket.
//! - [`process_socket`]: programs outside the node that are processes, over `/process`.
//! - [`net`]: node-to-node links (Noise over TCP), remote requests and pushes.
//! - [`cluster`]: one node as several instances on NATS — instance numbers in channel ids,
//!   pushes to another instance's channels.
//! - [`config`], [`home`], [`auth`], [`password`], [`tls`]: settings, the node's home
//!   directory, tokens, the node password's hash, https/wss. Plain parts: none of them
//!   reaches the runtime.
//! - [`telemetry`]: what the node counts about itself (plain counters, the Prometheus
//!   recorder); [`ops`]: the internal port that serves them (`/metrics`, `/health`,
//!   `/ready`, `/status`).
//! - [`builder`]: [`Switchboard`], the command line with a process author's processes.
//! - [`commands`]: the programs the node runs as processes outside it (`[[process]]`).
//! - [`cli`]: the command line the binary runs; [`allocator`]: the allocator it runs on.
//!
//! ## How a frame travels
//! In: the socket → [`ws::channel`]'s reader loop → [`ws::courier`] → the process's mailbox
//! (an `HttpServerRequest::WebSocketPush` from `http-server:distro:sys`).
//!
//! Out: a process's push (`Host::ws_push`, in [`runtime`]) → [`ws::table`] finds the channel
//! → its outbox ([`ws::outbound`]): written at once by the pushing task when the socket is
//! idle (the fast path, [`ws::outbound::socket_writer`]), queued for the channel's writer
//! task ([`ws::outbound::writer`]) otherwise → the socket. A push for another node's channel
//! goes through [`net`] and arrives there as a push; one for another instance's channel goes
//! through [`cluster`] over NATS.
//!
//! Requests and binds: `Host::send` → [`runtime::route`] → a mailbox, or the module's
//! handler ([`server::requests`], [`net::requests`]), or [`net`] for another node.

pub mod allocator;
pub mod auth;
pub mod builder;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod home;
pub mod http;
pub mod kernel;
pub mod net;
pub mod node;
pub mod ops;
pub mod password;
pub mod process_socket;
pub mod runtime;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod ws;

pub use builder::{ProcessListError, Switchboard};
pub use config::Config;
pub use kernel::ProcessSpec;
pub use node::{bundled_processes, start, RunningNode, StartError};
