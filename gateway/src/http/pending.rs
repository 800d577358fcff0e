//! The HTTP requests on bound paths in flight to processes, each waiting for its
//! `Response`. Only the asked process on this node can answer one.

use std::collections::HashMap;

use parking_lot::Mutex;
use process_lib::{Address, KernelMessage, WireMessage};
use tokio::sync::oneshot;

/// HTTP requests waiting for an answer, by message id.
#[derive(Debug, Default)]
pub struct PendingRequests {
    pending: Mutex<HashMap<u64, Waiter>>,
}

impl PendingRequests {
    /// Registers HTTP request `id`, sent to `from`, in flight; its answer arrives on the
    /// receiver. Only a `Response` from exactly `from` counts as the answer.
    pub fn await_answer(&self, id: u64, from: Address) -> oneshot::Receiver<KernelMessage> {
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(id, Waiter { from, tx });
        rx
    }

    /// Forgets a request that timed out.
    pub fn forget(&self, id: u64) {
        self.pending.lock().remove(&id);
    }

    /// Hands `message` to the request waiting for it; gives it back when none waits.
    /// A request, a message from another node, or a response from any process but the one
    /// asked is never taken as an answer: a peer cannot answer our HTTP requests by guessing
    /// an id.
    pub fn answer(&self, message: KernelMessage) -> Option<KernelMessage> {
        if !matches!(message.message, WireMessage::Response { .. }) {
            return Some(message);
        }
        let mut pending = self.pending.lock();
        match pending.get(&message.id) {
            Some(waiter) if waiter.from == message.source => {
                if let Some(waiter) = pending.remove(&message.id) {
                    let _ = waiter.tx.send(message);
                }
                None
            }
            _ => Some(message),
        }
    }
}

/// An HTTP request in flight: who must answer it, and where the answer goes.
#[derive(Debug)]
struct Waiter {
    from: Address,
    tx: oneshot::Sender<KernelMessage>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(id: u64, source: &str) -> KernelMessage {
        KernelMessage {
            id,
            source: source.parse().unwrap(),
            target: "local.os@http-server:distro:sys".parse().unwrap(),
            rsvp: None,
            message: WireMessage::Response {
                body: b"{}".to_vec(),
            },
            blob: None,
        }
    }

    #[test]
    fn only_the_asked_process_on_this_node_answers() {
        let pending = PendingRequests::default();
        let mut rx = pending.await_answer(7, "local.os@app:app:sys".parse().unwrap());
        // A peer node's process with the same id, or another local process: not the answer.
        assert!(pending.answer(response(7, "bob.os@app:app:sys")).is_some());
        assert!(pending
            .answer(response(7, "local.os@other:app:sys"))
            .is_some());
        assert!(rx.try_recv().is_err());
        // A request with the id is not an answer either.
        let mut request = response(7, "local.os@app:app:sys");
        request.message = WireMessage::Request {
            expects_response: None,
            body: vec![],
        };
        assert!(pending.answer(request).is_some());
        // The asked process's response is.
        assert!(pending
            .answer(response(7, "local.os@app:app:sys"))
            .is_none());
        assert_eq!(
            rx.try_recv().unwrap().source.to_string(),
            "local.os@app:app:sys"
        );
    }
}
