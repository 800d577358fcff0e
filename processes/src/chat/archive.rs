//! The chat's archive: every message the chat accepted, in a SQLite file in the process's
//! state directory. A message is written (and synced) before anyone is shown it, so a client
//! that asks for `history{since}` after a reconnect, a crash or a node restart misses nothing.

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

/// Why the archive failed.
#[derive(Debug, thiserror::Error)]
#[error("chat archive: {0}")]
pub struct ArchiveError(#[from] rusqlite::Error);

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
    pub fn append(&self, from: &str, text: &str) -> Result<Stored, ArchiveError> {
        self.insert(now_ms(), from, None, text)
    }

    /// Stores a message that `from` on `node` said at `ts` (a peer chat relayed it), and
    /// returns it with its id here.
    pub fn append_remote(
        &self,
        ts: u64,
        from: &str,
        node: &str,
        text: &str,
    ) -> Result<Stored, ArchiveError> {
        self.insert(ts, from, Some(node), text)
    }

    fn insert(
        &self,
        ts: u64,
        from: &str,
        node: Option<&str>,
        text: &str,
    ) -> Result<Stored, ArchiveError> {
        self.db.execute(
            "INSERT INTO messages (ts, name, node, text) VALUES (?1, ?2, ?3, ?4)",
            params![i64::try_from(ts).unwrap_or(i64::MAX), from, node, text],
        )?;
        let id = self.db.last_insert_rowid();
        Ok(Stored {
            id: u64::try_from(id).unwrap_or(0),
            ts,
            from: from.to_owned(),
            node: node.map(str::to_owned),
            text: text.to_owned(),
        })
    }

    /// The last `n` messages, oldest first.
    pub fn last(&self, n: usize) -> Result<Vec<Stored>, ArchiveError> {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let mut rows = self.query(
            "SELECT id, ts, name, node, text FROM messages ORDER BY id DESC LIMIT ?1",
            n,
        )?;
        rows.reverse();
        Ok(rows)
    }

    /// Every message after `id`, oldest first.
    pub fn since(&self, id: u64) -> Result<Vec<Stored>, ArchiveError> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        self.query(
            "SELECT id, ts, name, node, text FROM messages WHERE id > ?1 ORDER BY id ASC",
            id,
        )
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
    use super::*;

    #[test]
    fn ids_grow_and_queries_are_oldest_first() {
        let archive = Archive::open(None).unwrap();
        for text in ["a", "b", "c"] {
            archive.append("user1", text).unwrap();
        }
        let last: Vec<_> = archive
            .last(2)
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(last, ["b", "c"]);
        let since = archive.since(1).unwrap();
        assert_eq!(since.iter().map(|m| m.id).collect::<Vec<_>>(), [2, 3]);
        assert!(archive.since(3).unwrap().is_empty());
    }

    #[test]
    fn relayed_messages_keep_their_node_and_time() {
        let archive = Archive::open(None).unwrap();
        archive.append("user1", "here").unwrap();
        let remote = archive
            .append_remote(42, "user1", "bob.os", "there")
            .unwrap();
        assert_eq!(remote.id, 2);
        let last = archive.last(2).unwrap();
        assert_eq!(last[0].node, None);
        assert_eq!(last[1], remote);
        assert_eq!(last[1].ts, 42);
    }

    #[test]
    fn an_archive_from_before_federation_gains_the_node_column() {
        let dir = std::env::temp_dir().join(format!("chat-archive-old-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join(FILE));
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
        let dir = std::env::temp_dir().join(format!("chat-archive-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join(FILE));
        let first = Archive::open(Some(&dir))
            .unwrap()
            .append("a", "kept")
            .unwrap();
        let again = Archive::open(Some(&dir)).unwrap();
        assert_eq!(again.last(20).unwrap(), vec![first.clone()]);
        assert_eq!(again.append("a", "next").unwrap().id, first.id + 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
