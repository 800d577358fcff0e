//! Group commit: messages that arrive together are stored in one transaction and shown once
//! it has committed, so a busy room pays one sync per burst instead of one per message.
//!
//! A message said here (or relayed by a peer's chat) waits in [`Commits`] until the archive's
//! thread is free; then everything waiting goes in one transaction, and the chat takes the
//! next messages while it syncs. When the transaction has committed, its messages are shown
//! in order, each with its id; a message that could not be stored is shown to nobody, and its
//! sender is told. So a burst costs one sync, and a lone message still goes at once.
//!
//! Anything else the chat does (a join, a leave, a rename, a whisper, a history, an error)
//! waits until every message before it has been shown ([`Chat::settle`]). That keeps what
//! each member sees, and the ids, exactly as if each message had been committed on its own:
//! the only thing that changes is how many syncs it took.

use process_lib::{await_message, Message, SendError};
use tokio::sync::oneshot;

use super::archive::NewMessage;
use super::commands::CommandError;
use super::store::Committed;
use super::Chat;

/// At most this many messages go in one transaction; past it, the chat waits for the
/// transaction in flight before it takes more.
const MAX_BATCH: usize = 1024;
/// Messages already in the mailbox that are taken into a transaction before it starts.
const TAKE_READY: usize = 256;

/// Who gave a message to the chat, so they can be told if it is not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Author {
    /// The member on this channel.
    Member(u32),
    /// The chat on a peer node, which relayed it.
    Peer,
}

/// A message accepted from an author, not stored yet.
#[derive(Debug)]
pub(super) struct Accepted {
    author: Author,
    message: NewMessage,
}

/// Messages between being accepted and being shown.
#[derive(Debug, Default)]
pub(super) struct Commits {
    /// Waiting for the next transaction, in the order they came.
    waiting: Vec<Accepted>,
    /// In the transaction being committed, with the receiver of its results.
    in_flight: Option<(Vec<Accepted>, oneshot::Receiver<Committed>)>,
}

impl Commits {
    /// Nothing is being committed and something waits: the next transaction can start.
    pub(super) fn can_start(&self) -> bool {
        self.in_flight.is_none() && !self.waiting.is_empty()
    }

    /// The transaction in flight, once it has committed (or failed); never returns while
    /// none is in flight. Cancel-safe: dropped before it returns, it keeps the transaction.
    pub(super) async fn done(&mut self) -> (Vec<Accepted>, Committed) {
        let Some((_, receiver)) = &mut self.in_flight else {
            return std::future::pending().await;
        };
        let results = receiver.await;
        let (accepted, _) = self
            .in_flight
            .take()
            .unwrap_or_else(|| unreachable!("checked above"));
        // A closed receiver: the archive's thread stopped; nothing of this batch is known
        // to be stored.
        let results = results.unwrap_or_else(|_| {
            accepted
                .iter()
                .map(|_| Err(super::archive::ArchiveError::Stopped))
                .collect()
        });
        (accepted, results)
    }
}

impl Chat {
    /// `text` from the member on `channel_id`, to be stored and then shown to everyone.
    pub(super) async fn say(&mut self, channel_id: u32, text: &str) {
        // Relaying happens after the commit and must not wait then (it could be in the
        // middle of answering a peer), so the list of peers is brought up to date now.
        self.federation.refresh_peers().await;
        let from = self.name_of(channel_id);
        self.accept(Author::Member(channel_id), NewMessage::local(&from, text))
            .await;
    }

    /// A message to store and show, from `author`.
    pub(super) async fn accept(&mut self, author: Author, message: NewMessage) {
        self.commits.waiting.push(Accepted { author, message });
        if self.commits.waiting.len() >= MAX_BATCH {
            // Enough for one transaction: let the one in flight finish before taking more.
            if self.commits.in_flight.is_some() {
                let (accepted, results) = self.commits.done().await;
                self.committed(accepted, results);
            }
        }
    }

    /// Takes the messages already in the mailbox (they arrived with the ones waiting), then
    /// starts the transaction of everything waiting.
    pub(super) async fn start_commit(&mut self) {
        for _ in 0..TAKE_READY {
            // `await_message` is cancel-safe: a message not ready now stays in the mailbox.
            let Some(next) = futures_util::FutureExt::now_or_never(await_message()) else {
                break;
            };
            self.handle(next).await;
        }
        if self.commits.can_start() {
            self.commit_waiting().await;
        }
    }

    /// Hands everything waiting to the archive's thread as one transaction.
    async fn commit_waiting(&mut self) {
        let accepted = std::mem::take(&mut self.commits.waiting);
        let batch: Vec<NewMessage> = accepted.iter().map(|a| a.message.clone()).collect();
        tracing::debug!(messages = batch.len(), "committing");
        let receiver = self.store.append(batch).await;
        self.commits.in_flight = Some((accepted, receiver));
    }

    /// Shows each stored message of a finished transaction, in order, and relays the local
    /// ones to the peers' chats; tells the author of each message that was not stored.
    ///
    /// The stored messages go to every member as one push of several frames ([`Chat::show`]),
    /// so a burst costs each member one wake-up of its socket's writer, not one per message.
    /// A message that was not stored ends the run shown so far, so its author's error comes
    /// between the messages before it and those after it, as it would one commit at a time.
    pub(super) fn committed(&mut self, accepted: Vec<Accepted>, results: Committed) {
        let mut run = Vec::with_capacity(accepted.len());
        for (accepted, result) in accepted.into_iter().zip(results) {
            match (result, accepted.author) {
                (Ok(stored), author) => {
                    if author != Author::Peer {
                        self.federation.relay(&stored.from, &stored.text, stored.ts);
                    }
                    match self.store.room() {
                        // Shown when the room's log brings it back, in the log's order.
                        Some(room) => room.appended = room.appended.max(stored.id),
                        None => run.push(stored),
                    }
                }
                (Err(error), Author::Member(channel_id)) => {
                    self.show(&std::mem::take(&mut run));
                    tracing::error!(%error, channel_id, "a message could not be archived; not shown");
                    self.tell_error(channel_id, &CommandError::Archive);
                }
                (Err(error), Author::Peer) => {
                    let node = accepted.message.node.unwrap_or_default();
                    tracing::error!(peer = %node, %error, "a relayed message could not be archived; not shown");
                }
            }
        }
        self.show(&run);
    }

    /// Waits until every accepted message has been committed and shown (or refused), so
    /// whatever the chat does next comes after them, as it would have with one commit per
    /// message.
    pub(super) async fn settle(&mut self) {
        loop {
            if self.commits.in_flight.is_some() {
                let (accepted, results) = self.commits.done().await;
                self.committed(accepted, results);
            } else if self.commits.waiting.is_empty() {
                return self.catch_up().await;
            } else {
                self.commit_waiting().await;
            }
        }
    }

    /// Handles one result of `await_message`.
    pub(super) async fn handle(&mut self, next: Result<Message, SendError>) {
        match next {
            Ok(message) => self.message(message).await,
            Err(error) => {
                self.settle().await;
                self.bounced(error.into());
            }
        }
    }
}
