//! The chat on a clustered node: one room across the node's instances.
//!
//! Every instance runs the chat, each with the members connected to it. A message is
//! appended to a log the chats share ([`process_lib::shared::log`], a JetStream stream on a
//! Switchboard cluster), whose record number is the message's id; every chat follows the log
//! and shows each record to its own members as it comes. So a message is stored before anyone
//! sees it, every member sees every message once and in the log's order, and `history since`
//! reads the same log on every instance, whichever instance is lost.
//!
//! Names are claimed in a map the chats share, whose entries expire unless renewed: each chat
//! renews its members' names every few seconds, so a name is unique across the room, and the
//! names of an instance that was killed vanish from `/who` soon after. Joins, leaves and
//! renames are told to the other chats with [`process_lib::siblings::publish`].
//!
//! On a node that is not clustered the chat keeps its SQLite archive ([`Archive`]); the two
//! forms meet in [`Messages`].

use std::time::Duration;

use bytes::Bytes;
use process_lib::shared::{Record, SharedError, SharedLog, SharedMap};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::archive::{Archive, ArchiveError, NewMessage, Stored};
use super::store::{Committed, Store};

/// How long a member's name stays claimed without being renewed.
pub const PRESENCE_TTL: Duration = Duration::from_secs(6);
/// How often a chat renews its members' names.
pub const PRESENCE_RENEW: Duration = Duration::from_secs(2);
/// The shared log's name.
const LOG: &str = "room";
/// The shared map's name.
const NAMES: &str = "names";

/// A message as the shared log holds it; its id is the record's number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Line {
    ts: u64,
    from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    text: String,
}

fn stored(seq: u64, data: &[u8]) -> Option<Stored> {
    let line: Line = serde_json::from_slice(data).ok()?;
    Some(Stored {
        id: seq,
        ts: line.ts,
        from: line.from,
        node: line.node,
        text: line.text,
    })
}

fn shared(error: SharedError) -> ArchiveError {
    ArchiveError::Shared(error.to_string())
}

/// Where the chat's messages are kept: its own SQLite archive, or the room's shared log.
#[derive(Debug)]
pub enum Messages {
    /// One instance: SQLite in the state directory.
    Local(Store),
    /// A clustered node: the log shared with the chats on the other instances.
    Room(Room),
}

impl Messages {
    /// The room when the node is clustered, the SQLite archive in `state_dir` otherwise.
    pub async fn open(state_dir: Option<&std::path::Path>) -> anyhow::Result<Self> {
        if let (Some(log), Some(names)) = (
            process_lib::shared::log(LOG),
            process_lib::shared::map(NAMES, PRESENCE_TTL),
        ) {
            return Ok(Self::Room(Room::open(log, names).await));
        }
        Ok(Self::Local(Store::start(Archive::open(state_dir)?)?))
    }

    /// Starts storing `batch`; the receiver gets one result per message once it is stored.
    pub async fn append(&mut self, batch: Vec<NewMessage>) -> oneshot::Receiver<Committed> {
        match self {
            Self::Local(store) => store.append(batch).await,
            Self::Room(room) => room.append(batch),
        }
    }

    /// The last `n` messages, oldest first (in the room: up to the last one shown here).
    pub async fn last(&self, n: usize) -> Result<Vec<Stored>, ArchiveError> {
        match self {
            Self::Local(store) => store.last(n).await,
            Self::Room(room) => {
                let n = u64::try_from(n).unwrap_or(u64::MAX);
                room.read((room.shown + 1).saturating_sub(n), room.shown)
                    .await
            }
        }
    }

    /// Every message after `id`, oldest first (in the room: up to the last one shown here).
    pub async fn since(&self, id: u64) -> Result<Vec<Stored>, ArchiveError> {
        match self {
            Self::Local(store) => store.since(id).await,
            Self::Room(room) => room.read(id.saturating_add(1), room.shown).await,
        }
    }

    /// Whether this is the room of a clustered node.
    pub fn is_room(&self) -> bool {
        matches!(self, Self::Room(_))
    }

    /// The room, on a clustered node.
    pub fn room(&mut self) -> Option<&mut Room> {
        match self {
            Self::Local(_) => None,
            Self::Room(room) => Some(room),
        }
    }
}

/// This instance's side of the room.
#[derive(Debug)]
pub struct Room {
    log: SharedLog,
    names: SharedMap,
    follow: mpsc::Receiver<Record>,
    /// The last record shown to this instance's members.
    pub shown: u64,
    /// The last record this instance appended.
    pub appended: u64,
}

impl Room {
    /// Joins the room: follows the log from its end, so members see what is said from now.
    async fn open(log: SharedLog, names: SharedMap) -> Self {
        let mut wait = Duration::from_millis(100);
        let last = loop {
            match log.last_seq().await {
                Ok(last) => break last,
                Err(error) => {
                    tracing::warn!(%error, "the chat cannot read the room's log yet; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
            }
        };
        Self {
            follow: log.follow(last),
            log,
            names,
            shown: last,
            appended: 0,
        }
    }

    fn append(&mut self, batch: Vec<NewMessage>) -> oneshot::Receiver<Committed> {
        let (done, receiver) = oneshot::channel();
        let log = self.log.clone();
        tokio::spawn(async move {
            let records: Vec<Bytes> = batch
                .iter()
                .map(|m| {
                    let line = Line {
                        ts: m.ts,
                        from: m.from.clone(),
                        node: m.node.clone(),
                        text: m.text.clone(),
                    };
                    Bytes::from(serde_json::to_vec(&line).unwrap_or_default())
                })
                .collect();
            let results = log.append(records).await;
            let committed = batch
                .into_iter()
                .zip(results)
                .map(|(m, result)| {
                    result.map_err(shared).map(|id| Stored {
                        id,
                        ts: m.ts,
                        from: m.from,
                        node: m.node,
                        text: m.text,
                    })
                })
                .collect();
            let _ = done.send(committed);
        });
        receiver
    }

    async fn read(&self, first: u64, last: u64) -> Result<Vec<Stored>, ArchiveError> {
        let records = self.log.read(first.max(1), last).await.map_err(shared)?;
        Ok(records
            .iter()
            .filter_map(|r| stored(r.seq, &r.data))
            .collect())
    }

    /// The next message of the log to show here, in the log's order; never returns while
    /// none comes.
    pub async fn next(&mut self) -> Stored {
        loop {
            let Some(record) = self.follow.recv().await else {
                return std::future::pending().await;
            };
            self.shown = self.shown.max(record.seq);
            match stored(record.seq, &record.data) {
                Some(message) => return message,
                None => tracing::warn!(
                    seq = record.seq,
                    "a record of the room's log is not a message; skipped"
                ),
            }
        }
    }

    /// Claims `name` for a member here; false when someone in the room has it.
    pub async fn claim(&self, name: &str) -> Result<bool, SharedError> {
        self.names
            .create(&name.to_lowercase(), name.to_owned())
            .await
    }

    /// Gives `name` back, without waiting.
    pub fn release(&self, name: &str) {
        let names = self.names.clone();
        let key = name.to_lowercase();
        tokio::spawn(async move {
            if let Err(error) = names.delete(&key).await {
                tracing::debug!(%error, "a name was not released; it lapses by itself");
            }
        });
    }

    /// Renews the claims on `held`, the names of this instance's members, without waiting.
    pub fn renew(&self, held: Vec<String>) {
        let names = self.names.clone();
        tokio::spawn(async move {
            for name in held {
                if let Err(error) = names.put(&name.to_lowercase(), name.clone()).await {
                    tracing::debug!(%error, "names not renewed; trying at the next renewal");
                    return;
                }
            }
        });
    }

    /// Everyone in the room, on every instance, sorted.
    pub async fn members(&self) -> Result<Vec<String>, SharedError> {
        let entries = self.names.entries().await?;
        let mut names: Vec<String> = entries
            .into_iter()
            .map(|(_, value)| String::from_utf8_lossy(&value).into_owned())
            .collect();
        names.sort_by_key(|n| n.to_lowercase());
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reads_back_as_the_message_it_was() {
        let line = Line {
            ts: 5,
            from: "ann".into(),
            node: None,
            text: "hi".into(),
        };
        let data = serde_json::to_vec(&line).unwrap();
        assert_eq!(
            stored(9, &data),
            Some(Stored {
                id: 9,
                ts: 5,
                from: "ann".into(),
                node: None,
                text: "hi".into()
            })
        );
        assert_eq!(stored(9, b"not json"), None);
    }
}
