//! # processes
//!
//! The processes that ship with Switchboard. Each is an async function of its own
//! [`Address`](process_lib::Address), written only against `process_lib`, so it reads the
//! way a third-party process would.
//!
//! ## Layout
//! - [`echo`]: `echo:echo:sys`, sends every push back to its channel.
//! - [`broadcast`]: `broadcast:broadcast:sys`, pushes every frame to every client registered to it.
//! - [`chat`]: `chat:chat:sys`, a chat room with names, commands, a JSON mode and a durable
//!   archive.
//! - [`counter`]: `counter:counter:sys`, a per-connection counter served through typed
//!   channels.

pub mod broadcast;
pub mod chat;
pub mod counter;
pub mod echo;
