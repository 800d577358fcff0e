//! A link's outgoing queue, bounded both in messages and in payload bytes, so a peer that
//! stops reading holds a bounded amount of memory. Senders never wait: a full queue is an
//! error they see at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use process_lib::{KernelMessage, WireMessage};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// Body plus blob bytes of a message: what the byte bound counts.
pub fn payload_len(message: &KernelMessage) -> usize {
    let body = match &message.message {
        WireMessage::Request { body, .. }
        | WireMessage::Response { body }
        | WireMessage::Bounce { body, .. } => body.len(),
    };
    body + message.blob.as_ref().map_or(0, |b| b.bytes.len())
}

/// The senders' side.
#[derive(Debug, Clone)]
pub struct LinkQueue {
    tx: mpsc::Sender<KernelMessage>,
    bytes: Arc<AtomicUsize>,
    byte_limit: usize,
}

/// The writer task's side.
#[derive(Debug)]
pub struct LinkDrain {
    rx: mpsc::Receiver<KernelMessage>,
    bytes: Arc<AtomicUsize>,
}

/// A queue of at most `capacity` messages and (past its first message) `byte_limit` bytes.
pub fn link_queue(capacity: usize, byte_limit: usize) -> (LinkQueue, LinkDrain) {
    let (tx, rx) = mpsc::channel(capacity);
    let bytes = Arc::new(AtomicUsize::new(0));
    (
        LinkQueue {
            tx,
            bytes: bytes.clone(),
            byte_limit,
        },
        LinkDrain { rx, bytes },
    )
}

impl LinkQueue {
    /// Queues `message`, or hands it back when the queue is full or closed.
    pub fn try_send(&self, message: KernelMessage) -> Result<(), TrySendError<KernelMessage>> {
        let len = payload_len(&message);
        let before = self.bytes.fetch_add(len, Ordering::AcqRel);
        if before > 0 && before + len > self.byte_limit {
            self.bytes.fetch_sub(len, Ordering::AcqRel);
            return Err(TrySendError::Full(message));
        }
        self.tx.try_send(message).inspect_err(|_| {
            self.bytes.fetch_sub(len, Ordering::AcqRel);
        })
    }
}

impl LinkDrain {
    fn taken(&self, message: KernelMessage) -> KernelMessage {
        self.bytes
            .fetch_sub(payload_len(&message), Ordering::AcqRel);
        message
    }

    /// The next message; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<KernelMessage> {
        let message = self.rx.recv().await?;
        Some(self.taken(message))
    }

    /// The next message if one is waiting.
    pub fn try_recv(&mut self) -> Option<KernelMessage> {
        let message = self.rx.try_recv().ok()?;
        Some(self.taken(message))
    }

    /// Refuses new messages; those queued can still be taken.
    pub fn close(&mut self) {
        self.rx.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use process_lib::LazyLoadBlob;

    fn message(len: usize) -> KernelMessage {
        KernelMessage {
            id: 1,
            source: "a.os@p:t:sys".parse().unwrap(),
            target: "b.os@p:t:sys".parse().unwrap(),
            rsvp: None,
            message: WireMessage::Request {
                expects_response: None,
                body: Vec::new(),
            },
            blob: Some(LazyLoadBlob::from_bytes(vec![0; len])),
        }
    }

    #[tokio::test]
    async fn the_byte_bound_refuses_and_frees_as_the_writer_drains() {
        let (queue, mut drain) = link_queue(100, 1000);
        queue.try_send(message(2000)).unwrap(); // the first message always fits
        assert!(matches!(
            queue.try_send(message(10)),
            Err(TrySendError::Full(_))
        ));
        drain.recv().await.unwrap();
        queue.try_send(message(600)).unwrap();
        assert!(matches!(
            queue.try_send(message(600)),
            Err(TrySendError::Full(_))
        ));
        queue.try_send(message(400)).unwrap();
        assert!(drain.try_recv().is_some() && drain.try_recv().is_some());
        assert!(drain.try_recv().is_none());
    }
}
