//! The process table: `ProcessId → mailbox`.

use std::collections::HashMap;

use parking_lot::RwLock;
use process_lib::ProcessId;

use super::mailbox::Mailbox;

/// One installed process.
#[derive(Debug, Clone)]
struct Slot {
    mailbox: Mailbox,
    accepts_websockets: bool,
    /// Held by a program connected to the process socket, not run inside the node.
    outside: bool,
}

/// Why a program cannot be a process now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claimed {
    /// The node runs the id itself.
    InNode,
    /// Another connection is the process.
    Taken,
}

/// Every process on this node.
#[derive(Debug, Default)]
pub struct ProcessTable {
    slots: RwLock<HashMap<ProcessId, Slot>>,
}

impl ProcessTable {
    /// Installs (or replaces, on restart) a process's mailbox.
    pub fn install(&self, id: ProcessId, mailbox: Mailbox, accepts_websockets: bool) {
        self.slots.write().insert(
            id,
            Slot {
                mailbox,
                accepts_websockets,
                outside: false,
            },
        );
    }

    /// Installs a process that a program outside the node is, if the id is free.
    pub fn claim_outside(&self, id: ProcessId, mailbox: Mailbox) -> Result<(), Claimed> {
        let mut slots = self.slots.write();
        if let Some(slot) = slots.get(&id) {
            return Err(if slot.outside {
                Claimed::Taken
            } else {
                Claimed::InNode
            });
        }
        slots.insert(
            id,
            Slot {
                mailbox,
                accepts_websockets: true,
                outside: true,
            },
        );
        Ok(())
    }

    /// Removes an outside process, if `mailbox` is still the one installed for it.
    pub fn release_outside(&self, id: &ProcessId, mailbox: &Mailbox) {
        let mut slots = self.slots.write();
        if slots
            .get(id)
            .is_some_and(|s| s.outside && s.mailbox.same_mailbox(mailbox))
        {
            slots.remove(id);
        }
    }

    /// Removes a process.
    pub fn remove(&self, id: &ProcessId) {
        self.slots.write().remove(id);
    }

    /// The mailbox of a process, if it runs.
    pub fn mailbox(&self, id: &ProcessId) -> Option<Mailbox> {
        self.slots.read().get(id).map(|s| s.mailbox.clone())
    }

    /// What a channel bound to process `id` needs, if it runs (and, with `websockets_only`,
    /// takes WebSocket channels): the id the process runs under, which its pushes carry as
    /// their source, so the channel's owner check compares by pointer; and its mailbox.
    pub fn channel_owner(
        &self,
        id: &ProcessId,
        websockets_only: bool,
    ) -> Option<(ProcessId, Mailbox)> {
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
            .map(|(id, s)| (id.clone(), s.mailbox.depth()))
            .collect()
    }

    /// Whether every process has taken every message waiting in its mailbox.
    pub fn mailboxes_empty(&self) -> bool {
        self.slots.read().values().all(|s| s.mailbox.depth() == 0)
    }

    /// The ids of every running process.
    pub fn ids(&self) -> Vec<ProcessId> {
        self.slots.read().keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn mailbox() -> (Mailbox, mpsc::Receiver<process_lib::KernelMessage>) {
        let (tx, rx) = mpsc::channel(1);
        (Mailbox::new(tx), rx)
    }

    #[test]
    fn an_outside_process_claims_only_a_free_id_and_releases_only_its_own() {
        let table = ProcessTable::default();
        let echo: ProcessId = "echo:echo:sys".parse().unwrap();
        let (inside, _rx) = mailbox();
        table.install(echo.clone(), inside, true);
        let (first, _rx1) = mailbox();
        assert_eq!(table.claim_outside(echo, first), Err(Claimed::InNode));
        let ext: ProcessId = "echo:echo:ext".parse().unwrap();
        let (first, _rx1) = mailbox();
        let (second, _rx2) = mailbox();
        assert_eq!(table.claim_outside(ext.clone(), first.clone()), Ok(()));
        assert_eq!(
            table.claim_outside(ext.clone(), second.clone()),
            Err(Claimed::Taken)
        );
        table.release_outside(&ext, &second);
        assert!(
            table.mailbox(&ext).is_some(),
            "another connection's release is ignored"
        );
        table.release_outside(&ext, &first);
        assert!(table.mailbox(&ext).is_none());
    }

    #[test]
    fn a_channel_owner_is_the_id_the_process_runs_under() {
        let table = ProcessTable::default();
        let running: ProcessId = "echo:echo:sys".parse().unwrap();
        let (tx, _rx) = mailbox();
        table.install(running.clone(), tx, true);
        // The register frame's id is parsed anew; the owner is the installed one, so
        // the owner check of every push from the process compares pointers.
        let asked: ProcessId = "echo:echo:sys".parse().unwrap();
        let (owner, _) = table.channel_owner(&asked, true).expect("running");
        assert!(std::ptr::eq(owner.as_str(), running.as_str()));
        assert!(!std::ptr::eq(asked.as_str(), running.as_str()));
        // Only processes that take WebSockets, unless asked otherwise.
        let quiet: ProcessId = "quiet:test:sys".parse().unwrap();
        let (tx, _rx) = mailbox();
        table.install(quiet.clone(), tx, false);
        assert!(table.channel_owner(&quiet, true).is_none());
        assert!(table.channel_owner(&quiet, false).is_some());
        assert!(table
            .channel_owner(&"gone:test:sys".parse().unwrap(), false)
            .is_none());
    }
}
