//! The process table: `ProcessId → mailbox`.

use std::collections::HashMap;

use parking_lot::RwLock;
use process_lib::{KernelMessage, ProcessId};
use tokio::sync::mpsc;

/// One installed process.
#[derive(Debug, Clone)]
struct Slot {
    mailbox: mpsc::Sender<KernelMessage>,
    accepts_websockets: bool,
}

/// Every process on this node.
#[derive(Debug, Default)]
pub struct ProcessTable {
    slots: RwLock<HashMap<ProcessId, Slot>>,
}

impl ProcessTable {
    /// Installs (or replaces, on restart) a process's mailbox.
    pub fn install(
        &self,
        id: ProcessId,
        mailbox: mpsc::Sender<KernelMessage>,
        accepts_websockets: bool,
    ) {
        self.slots.write().insert(
            id,
            Slot {
                mailbox,
                accepts_websockets,
            },
        );
    }

    /// Removes a process.
    pub fn remove(&self, id: &ProcessId) {
        self.slots.write().remove(id);
    }

    /// The mailbox of a process, if it runs.
    pub fn mailbox(&self, id: &ProcessId) -> Option<mpsc::Sender<KernelMessage>> {
        self.slots.read().get(id).map(|s| s.mailbox.clone())
    }

    /// The mailbox of a process that accepts WebSocket channels.
    pub fn websocket_mailbox(&self, id: &ProcessId) -> Option<mpsc::Sender<KernelMessage>> {
        self.slots
            .read()
            .get(id)
            .filter(|s| s.accepts_websockets)
            .map(|s| s.mailbox.clone())
    }

    /// The ids of every running process.
    pub fn ids(&self) -> Vec<ProcessId> {
        self.slots.read().keys().cloned().collect()
    }
}
