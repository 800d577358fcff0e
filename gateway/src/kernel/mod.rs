//! The kernel: the process table, routing by `Address`, and supervision.
//!
//! - [`table`]: which processes run, their mailboxes, whether they take WebSockets.
//! - [`route`]: delivering a `KernelMessage` to a mailbox, a runtime module, or back as a bounce.
//! - [`supervisor`]: running a process as a task, restarting it with backoff when it panics.

pub mod route;
pub mod supervisor;
pub mod table;

pub use supervisor::ProcessSpec;
