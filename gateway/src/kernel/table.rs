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

    /// What a channel bound to process `id` needs, if it runs (and, with `websockets_only`,
    /// takes WebSocket channels): the id the process runs under, which its pushes carry as
    /// their source, so the channel's owner check compares by pointer; and its mailbox.
    pub fn channel_owner(
        &self,
        id: &ProcessId,
        websockets_only: bool,
    ) -> Option<(ProcessId, mpsc::Sender<KernelMessage>)> {
        self.slots
            .read()
            .get_key_value(id)
            .filter(|(_, s)| s.accepts_websockets || !websockets_only)
            .map(|(id, s)| (id.clone(), s.mailbox.clone()))
    }

    /// Messages waiting in each running process's mailbox.
    pub fn mailbox_depths(&self) -> Vec<(ProcessId, usize)> {
        self.slots
            .read()
            .iter()
            .map(|(id, s)| (id.clone(), s.mailbox.max_capacity() - s.mailbox.capacity()))
            .collect()
    }

    /// The ids of every running process.
    pub fn ids(&self) -> Vec<ProcessId> {
        self.slots.read().keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_owner_is_the_id_the_process_runs_under() {
        let table = ProcessTable::default();
        let running: ProcessId = "echo:echo:sys".parse().unwrap();
        let (tx, _rx) = mpsc::channel(1);
        table.install(running.clone(), tx, true);
        // The register frame's id is parsed anew; the owner is the installed one, so
        // the owner check of every push from the process compares pointers.
        let asked: ProcessId = "echo:echo:sys".parse().unwrap();
        let (owner, _) = table.channel_owner(&asked, true).expect("running");
        assert!(std::ptr::eq(owner.as_str(), running.as_str()));
        assert!(!std::ptr::eq(asked.as_str(), running.as_str()));
        // Only processes that take WebSockets, unless asked otherwise.
        let quiet: ProcessId = "quiet:test:sys".parse().unwrap();
        let (tx, _rx) = mpsc::channel(1);
        table.install(quiet.clone(), tx, false);
        assert!(table.channel_owner(&quiet, true).is_none());
        assert!(table.channel_owner(&quiet, false).is_some());
        assert!(table
            .channel_owner(&"gone:test:sys".parse().unwrap(), false)
            .is_none());
    }
}
