//! WebSockets: admission, and each channel's life from its first frame to its close.
//!
//! Admission (a socket becomes a channel, or is told why not):
//! - [`upgrade`]: finishing a WebSocket upgrade ourselves, so the socket gets our buffer sizes.
//! - [`admission`]: sockets on `/` — the connection limits ([`limits`]: the node's, and per
//!   client address), then [`register`], the first frame (parse, authenticate, find the process).
//! - [`bound`]: sockets on a path a process bound — no register frame.
//! - [`refusal`]: every error a client can be told, as an error frame and a close code.
//!
//! The channel:
//! - [`channel`]: one channel's life — the reader loop, its writer task, the close.
//! - [`courier`]: the reader's way into the process's mailbox.
//! - [`table`]: the channel table, where every push finds its channel's outbox.
//! - [`socket`]: the socket a channel reads from, polled from its task alone.
//! - [`conn`]: the stream under a socket, split between the reader and the writer;
//!   [`lazy_read`]: 16 KiB socket reads behind a tiny per-socket read buffer.
//! - [`outbound`]: the channel's outbox, its fast path, and the writer task.
//! - [`linger`]: the end of a connection failed while its client still sends.
//! - [`drain`]: the staggered close of every channel when the node is asked to stop.

pub mod admission;
pub mod bound;
pub mod channel;
pub mod conn;
pub mod courier;
pub mod drain;
pub mod lazy_read;
pub mod limits;
pub mod linger;
pub mod outbound;
pub mod refusal;
pub mod register;
pub mod socket;
pub mod table;
pub mod upgrade;
