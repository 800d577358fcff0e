//! A process's mailbox as its senders hold it: a bounded queue of messages, and for a
//! process outside the node a byte budget too, so what waits for a program that stopped
//! reading stays within a set number of bytes. In-node processes have no budget: their
//! mailbox is checked exactly as a plain bounded queue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use process_lib::KernelMessage;
use tokio::sync::mpsc::{self, error::SendError, error::TrySendError};
use tokio::sync::Notify;

/// The sending side of a process's mailbox.
#[derive(Debug, Clone)]
pub struct Mailbox {
    tx: mpsc::Sender<KernelMessage>,
    bytes: Option<Arc<ByteBudget>>,
}

impl Mailbox {
    /// A mailbox bounded in messages only (an in-node process).
    pub fn new(tx: mpsc::Sender<KernelMessage>) -> Self {
        Self { tx, bytes: None }
    }

    /// A mailbox bounded in messages and in the bytes its messages carry.
    pub fn with_budget(tx: mpsc::Sender<KernelMessage>, bytes: Arc<ByteBudget>) -> Self {
        Self {
            tx,
            bytes: Some(bytes),
        }
    }

    /// Delivers `message` if there is room for it now.
    pub fn try_send(&self, message: KernelMessage) -> Result<(), TrySendError<KernelMessage>> {
        let Some(budget) = &self.bytes else {
            return self.tx.try_send(message);
        };
        let weight = weight(&message);
        if !budget.try_take(weight) {
            return Err(TrySendError::Full(message));
        }
        self.tx
            .try_send(message)
            .inspect_err(|_| budget.give_back(weight))
    }

    /// Delivers `message`, waiting for room.
    pub async fn send(&self, message: KernelMessage) -> Result<(), SendError<KernelMessage>> {
        let Some(budget) = &self.bytes else {
            return self.tx.send(message).await;
        };
        let weight = weight(&message);
        loop {
            let freed = budget.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if budget.try_take(weight) {
                break;
            }
            tokio::select! {
                () = freed => {}
                () = self.tx.closed() => return Err(SendError(message)),
            }
        }
        self.tx
            .send(message)
            .await
            .inspect_err(|_| budget.give_back(weight))
    }

    /// Room left in the mailbox, in messages.
    pub fn capacity(&self) -> usize {
        self.tx.capacity()
    }

    /// The mailbox's size, in messages.
    pub fn max_capacity(&self) -> usize {
        self.tx.max_capacity()
    }

    /// Messages waiting in the mailbox now.
    pub fn depth(&self) -> usize {
        self.max_capacity() - self.capacity()
    }

    /// Whether both are senders of the same mailbox.
    pub fn same_mailbox(&self, other: &Mailbox) -> bool {
        self.tx.same_channel(&other.tx)
    }
}

/// The bytes a message holds against a budget: its body and its blob.
pub fn weight(message: &KernelMessage) -> usize {
    let body = match &message.message {
        process_lib::WireMessage::Request { body, .. }
        | process_lib::WireMessage::Response { body }
        | process_lib::WireMessage::Bounce { body, .. } => body.len(),
    };
    body + message.blob.as_ref().map_or(0, |b| b.bytes.len())
}

/// Bytes that may wait in a mailbox. One message is always let in when none waits, however
/// large, so a message the node took can always be delivered.
#[derive(Debug)]
pub struct ByteBudget {
    used: AtomicUsize,
    limit: usize,
    freed: Notify,
}

impl ByteBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            used: AtomicUsize::new(0),
            limit,
            freed: Notify::new(),
        }
    }

    /// Takes `bytes` from the budget, if they fit.
    pub fn try_take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used == 0 || used.saturating_add(bytes) <= self.limit).then(|| used + bytes)
            })
            .is_ok()
    }

    /// Gives back what a message took, once it has left the mailbox.
    pub fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        self.freed.notify_waiters();
    }

    /// Bytes taken now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use process_lib::{LazyLoadBlob, WireMessage};

    fn message(bytes: usize) -> KernelMessage {
        let addr: process_lib::Address = "a.os@p:p:sys".parse().expect("address");
        KernelMessage {
            id: 1,
            source: addr.clone(),
            target: addr,
            rsvp: None,
            message: WireMessage::Request {
                expects_response: None,
                body: Vec::new(),
            },
            blob: Some(LazyLoadBlob::from_bytes(vec![0u8; bytes])),
        }
    }

    #[tokio::test]
    async fn a_full_budget_refuses_at_once_and_a_freed_one_lets_the_waiter_in() {
        let (tx, mut rx) = mpsc::channel(100);
        let budget = Arc::new(ByteBudget::new(1000));
        let mailbox = Mailbox::with_budget(tx, budget.clone());
        mailbox.try_send(message(600)).expect("fits");
        assert!(matches!(
            mailbox.try_send(message(600)),
            Err(TrySendError::Full(_))
        ));
        let waiting = tokio::spawn({
            let mailbox = mailbox.clone();
            async move { mailbox.send(message(600)).await.is_ok() }
        });
        let first = rx.recv().await.expect("the first message");
        budget.give_back(weight(&first));
        assert!(waiting.await.expect("no panic"), "the waiter got in");
        assert_eq!(budget.used(), 600);
    }

    #[test]
    fn an_empty_budget_takes_one_message_of_any_size() {
        let budget = ByteBudget::new(10);
        assert!(budget.try_take(50));
        assert!(!budget.try_take(1));
    }
}
