//! Routing: every `KernelMessage` goes to a process's mailbox, to one of the runtime's
//! modules (`http-server:distro:sys`, `net:distro:sys`, `cluster:distro:sys` for answers to
//! siblings), to the net module for another node,
//! or back to its sender. The modules answer through [`Host::send`](process_lib::host::Host),
//! which comes back here: only this file knows which module serves which address.

use std::sync::LazyLock;

use process_lib::{http_server_id, net_id, KernelMessage, ProcessId, SendErrorKind};
use tokio::sync::mpsc::error::TrySendError;

use crate::runtime::Runtime;

/// Built once: every routed message is compared with both.
static HTTP_SERVER: LazyLock<ProcessId> = LazyLock::new(http_server_id);
static NET: LazyLock<ProcessId> = LazyLock::new(net_id);

/// Delivers `message` without waiting. On failure the message comes back with the reason.
pub fn route(rt: &Runtime, message: KernelMessage) -> Result<(), (SendErrorKind, KernelMessage)> {
    if message.target.node != rt.node {
        return rt.net.send(message);
    }
    if message.target.process == *HTTP_SERVER {
        crate::server::requests::handle(rt, message);
        return Ok(());
    }
    if message.target.process == *NET {
        crate::net::requests::handle(rt, message);
        return Ok(());
    }
    if message.target.process == *crate::cluster::siblings::CLUSTER {
        crate::cluster::siblings::answered(rt, message);
        return Ok(());
    }
    let Some(mailbox) = rt.processes.mailbox(&message.target.process) else {
        return Err((SendErrorKind::Offline, message));
    };
    mailbox.try_send(message).map_err(|e| match e {
        TrySendError::Full(m) => (SendErrorKind::MailboxFull, m),
        TrySendError::Closed(m) => (SendErrorKind::Offline, m),
    })
}
