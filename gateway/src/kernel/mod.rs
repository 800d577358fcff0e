//! The kernel: the process table and supervision. Routing a message to a mailbox or a
//! module is the runtime's ([`crate::runtime::route`]), which wires the modules together.
//!
//! - [`mailbox`]: a mailbox's sending side, bounded in bytes too for processes outside.
//! - [`table`]: which processes run, their mailboxes, whether they take WebSockets.
//! - [`supervisor`]: running a process as a task, restarting it with backoff when it panics.

pub mod mailbox;
pub mod supervisor;
pub mod table;

pub use supervisor::ProcessSpec;
