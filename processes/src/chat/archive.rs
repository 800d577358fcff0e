//! The chat's archive: every message the chat accepted, in a SQLite file in the process's
//! state directory. A message is written (and synced) before anyone is shown it, so a client
//! that asks for `history{since}` after a reconnect, a crash or a node restart misses nothing.
//!
//! Messages that arrive together are written in one transaction ([`Archive::append_all`]):
//! one sync for the lot instead of one each. The ids are the ones one transaction per
//! message would have given, and a batch that cannot be committed is retried one message
//! per transaction, so only a message that cannot be stored on its own fails.
//!
//! Reads are bounded by what they ask for: `last(n)` walks the primary key backwards and
//! stops after `n` rows, and `since(id)` starts at `id` in the same index (never a scan of
//! the whole table); a newcomer's history is `last(20)`.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection};
use serde::Serialize;

/// The archive's file name inside the process's state directory.
pub const FILE: &str = "chat.sqlite3";

/// One archived message, as clients see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stored {
    /// Its place in the archive: every message has a larger id than those before it.
    pub id: u64,
    /// When the author's chat accepted it, in milliseconds since the Unix epoch.
    pub ts: u64,
    /// The name its author had then.
    pub from: String,
    /// The author's node, when it is not this one (a message relayed by a peer's chat).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// What they wrote.
    pub text: String,
}

/// A message to be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    /// When the author's chat accepted it, in milliseconds since the Unix epoch.
    pub ts: u64,
    /// The author's name then.
    pub from: String,
    /// The author's node, when it is not this one.
    pub node: Option<String>,
    /// What they wrote.
    pub text: String,
}

impl NewMessage {
    /// A message a member of this chat says now.
    pub fn local(from: &str, text: &str) -> Self {
        Self {
            ts: now_ms(),
            from: from.to_owned(),
            node: None,
            text: text.to_owned(),
        }
    }

    /// A message `from` on `node` said at `ts` (a peer's chat relayed it).
    pub fn remote(ts: u64, from: &str, node: &str, text: &str) -> Self {
        Self {
            ts,
            from: from.to_owned(),
            node: Some(node.to_owned()),
            text: text.to_owned(),
        }
    }
}

/// Why the archive failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// SQLite refused.
    #[error("chat archive: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The archive's thread is gone (it panicked, or the chat is stopping).
    #[error("chat archive: its thread has stopped")]
    Stopped,
    /// The log the chats of a cluster share could not be reached.
    #[error("chat archive: {0}")]
    Shared(String),
}

/// The newest `?1` messages, newest first: a backward walk of the primary key that stops
/// after `?1` rows.
const LAST: &str = "SELECT id, ts, name, node, text FROM messages ORDER BY id DESC LIMIT ?1";
/// Every message after `?1`, oldest first: a range of the primary key.
const SINCE: &str = "SELECT id, ts, name, node, text FROM messages WHERE id > ?1 ORDER BY id ASC";
const INSERT: &str = "INSERT INTO messages (ts, name, node, text) VALUES (?1, ?2, ?3, ?4)";

/// The open archive.
#[derive(Debug)]
pub struct Archive {
    db: Connection,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Archive {
    /// Opens (creating if needed) the archive in `dir`; with no directory, an archive that
    /// lives in memory only.
    pub fn open(dir: Option<&Path>) -> Result<Self, ArchiveError> {
        let db = match dir {
            Some(dir) => Connection::open(dir.join(FILE))?,
            None => Connection::open_in_memory()?,
        };
        // WAL with FULL sync: a message that was acknowledged is on disk, even after a crash.
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS messages (
                 id   INTEGER PRIMARY KEY AUTOINCREMENT,
                 ts   INTEGER NOT NULL,
                 name TEXT NOT NULL,
                 text TEXT NOT NULL
             );",
        )?;
        // Archives from before federation have no `node` column; NULL means this node.
        let has_node: bool = db.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('messages') WHERE name = 'node'",
            [],
            |row| row.get(0),
        )?;
        if !has_node {
            db.execute_batch("ALTER TABLE messages ADD COLUMN node TEXT;")?;
        }
        Ok(Self { db })
    }

    /// Stores a message from `from` on this node and returns it with its id and time.
    pub fn append(&mut self, from: &str, text: &str) -> Result<Stored, ArchiveError> {
        let mut stored = self.append_all(&[NewMessage::local(from, text)]);
        stored.pop().unwrap_or(Err(ArchiveError::Stopped))
    }

    /// Stores `batch` in order, in one transaction, and returns each message with its id.
    /// When that transaction fails, each message is tried in a transaction of its own, so
    /// the results say which ones could not be stored; the ids are those one transaction
    /// per message would have given.
    pub fn append_all(&mut self, batch: &[NewMessage]) -> Vec<Result<Stored, ArchiveError>> {
        match self.insert_all(batch) {
            Ok(stored) => stored.into_iter().map(Ok).collect(),
            Err(error) if batch.len() == 1 => vec![Err(error)],
            Err(error) => {
                tracing::warn!(%error, count = batch.len(), "a batch could not be committed; storing its messages one by one");
                batch
                    .iter()
                    .map(|message| {
                        let mut one = self.insert_all(std::slice::from_ref(message))?;
                        one.pop().ok_or(ArchiveError::Stopped)
                    })
                    .collect()
            }
        }
    }

    /// Inserts `batch` in one transaction; all of it is stored, or none.
    fn insert_all(&mut self, batch: &[NewMessage]) -> Result<Vec<Stored>, ArchiveError> {
        let transaction = self.db.transaction()?;
        let mut stored = Vec::with_capacity(batch.len());
        {
            let mut insert = transaction.prepare_cached(INSERT)?;
            for message in batch {
                let ts = i64::try_from(message.ts).unwrap_or(i64::MAX);
                let id = insert.insert(params![ts, message.from, message.node, message.text])?;
                stored.push(Stored {
                    id: u64::try_from(id).unwrap_or(0),
                    ts: message.ts,
                    from: message.from.clone(),
                    node: message.node.clone(),
                    text: message.text.clone(),
                });
            }
        }
        transaction.commit()?;
        Ok(stored)
    }

    /// The last `n` messages, oldest first.
    pub fn last(&self, n: usize) -> Result<Vec<Stored>, ArchiveError> {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let mut rows = self.query(LAST, n)?;
        rows.reverse();
        Ok(rows)
    }

    /// Every message after `id`, oldest first.
    pub fn since(&self, id: u64) -> Result<Vec<Stored>, ArchiveError> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        self.query(SINCE, id)
    }

    fn query(&self, sql: &str, arg: i64) -> Result<Vec<Stored>, ArchiveError> {
        let mut statement = self.db.prepare_cached(sql)?;
        let rows = statement.query_map([arg], |row| {
            Ok(Stored {
                id: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                ts: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                from: row.get(2)?,
                node: row.get(3)?,
                text: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    fn texts(messages: &[Stored]) -> Vec<&str> {
        messages.iter().map(|m| m.text.as_str()).collect()
    }

    fn batch(texts: &[&str]) -> Vec<NewMessage> {
        texts
            .iter()
            .map(|text| NewMessage::local("user1", text))
            .collect()
    }

    /// A scratch directory for one test, empty.
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("chat-archive-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn ids_grow_and_queries_are_oldest_first() {
        let mut archive = Archive::open(None).unwrap();
        for text in ["a", "b", "c"] {
            archive.append("user1", text).unwrap();
        }
        assert_eq!(texts(&archive.last(2).unwrap()), ["b", "c"]);
        let since = archive.since(1).unwrap();
        assert_eq!(since.iter().map(|m| m.id).collect::<Vec<_>>(), [2, 3]);
        assert!(archive.since(3).unwrap().is_empty());
    }

    #[test]
    fn a_batch_gets_consecutive_ids_in_its_order() {
        let mut archive = Archive::open(None).unwrap();
        archive.append("user1", "first").unwrap();
        let stored: Vec<Stored> = archive
            .append_all(&batch(&["a", "b", "c"]))
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(stored.iter().map(|m| m.id).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(archive.last(3).unwrap(), stored);
        assert_eq!(archive.append("user1", "next").unwrap().id, 5);
    }

    #[test]
    fn relayed_messages_keep_their_node_and_time() {
        let mut archive = Archive::open(None).unwrap();
        archive.append("user1", "here").unwrap();
        let remote = archive
            .append_all(&[NewMessage::remote(42, "user1", "bob.os", "there")])
            .pop()
            .unwrap()
            .unwrap();
        assert_eq!(remote.id, 2);
        let last = archive.last(2).unwrap();
        assert_eq!(last[0].node, None);
        assert_eq!(last[1], remote);
        assert_eq!(last[1].ts, 42);
    }

    #[test]
    fn a_batch_that_cannot_commit_fails_only_the_messages_that_cannot_be_stored() {
        let mut archive = Archive::open(None).unwrap();
        // A real refusal from SQLite: a trigger aborts the insert of one message, which
        // rolls back the batch's transaction.
        archive
            .db
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.text = 'doomed'
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
            )
            .unwrap();
        let results = archive.append_all(&batch(&["a", "doomed", "c"]));
        let ids: Vec<Option<u64>> = results
            .iter()
            .map(|r| r.as_ref().ok().map(|m| m.id))
            .collect();
        assert_eq!(ids, [Some(1), None, Some(2)]);
        let error = results[1].as_ref().unwrap_err().to_string();
        assert!(error.contains("refused by the test"), "{error}");
        assert_eq!(texts(&archive.since(0).unwrap()), ["a", "c"]);
    }

    #[test]
    fn a_commit_that_fails_stores_nothing_of_its_batch() {
        let mut archive = Archive::open(None).unwrap();
        archive.append("user1", "kept").unwrap();
        archive
            .db
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON messages
                 BEGIN SELECT RAISE(ABORT, 'full'); END;",
            )
            .unwrap();
        let results = archive.append_all(&batch(&["x", "y"]));
        assert!(results.iter().all(Result::is_err), "{results:?}");
        archive.db.execute_batch("DROP TRIGGER refuse;").unwrap();
        assert_eq!(texts(&archive.since(0).unwrap()), ["kept"]);
        // The ids that failed are not skipped.
        assert_eq!(archive.append("user1", "z").unwrap().id, 2);
    }

    #[test]
    fn a_newcomers_history_reads_the_same_few_rows_however_long_the_archive() {
        let mut archive = Archive::open(None).unwrap();
        let steps = |archive: &Archive| {
            let mut statement = archive.db.prepare(LAST).unwrap();
            let rows = statement
                .query_map([20], |row| row.get::<_, i64>(0))
                .unwrap()
                .count();
            assert_eq!(rows, 20);
            assert_eq!(statement.get_status(StatementStatus::Sort), 0);
            statement.get_status(StatementStatus::VmStep)
        };
        let texts: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        archive.append_all(&batch(&refs));
        let short = steps(&archive);
        for _ in 0..100 {
            archive.append_all(&batch(&refs));
        }
        assert_eq!(archive.since(0).unwrap().len(), 10_100);
        assert_eq!(
            steps(&archive),
            short,
            "last(20) does work in proportion to 20"
        );
    }

    #[test]
    fn an_archive_from_before_federation_gains_the_node_column() {
        let dir = scratch("old");
        {
            let db = Connection::open(dir.join(FILE)).unwrap();
            db.execute_batch(
                "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL,
                 name TEXT NOT NULL, text TEXT NOT NULL);
                 INSERT INTO messages (ts, name, text) VALUES (1, 'ann', 'old');",
            )
            .unwrap();
        }
        let archive = Archive::open(Some(&dir)).unwrap();
        let old = archive.last(20).unwrap();
        assert_eq!(
            (old[0].text.as_str(), old[0].node.as_deref()),
            ("old", None)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_file_keeps_messages_across_opens() {
        let dir = scratch("reopen");
        let first = Archive::open(Some(&dir))
            .unwrap()
            .append_all(&batch(&["kept", "also"]));
        let first: Vec<Stored> = first.into_iter().map(Result::unwrap).collect();
        let mut again = Archive::open(Some(&dir)).unwrap();
        assert_eq!(again.last(20).unwrap(), first);
        assert_eq!(again.append("a", "next").unwrap().id, first[1].id + 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
