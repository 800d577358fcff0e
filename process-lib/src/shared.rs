//! State a process shares with its siblings on the other instances of a clustered node,
//! kept by the cluster (not by any one instance), so it outlives any instance's loss:
//!
//! - a [`SharedLog`]: records appended by any instance, each given the next number of one
//!   sequence, read back by range and followed in that order by every instance;
//! - a [`SharedMap`]: keys with values that vanish `ttl` after they were last written, so
//!   what an instance killed without warning wrote goes away by itself.
//!
//! [`log`] and [`map`] return `None` on a node that is not clustered: the process then keeps
//! its state on its own (in [`state_dir`](crate::state_dir)). A process names its logs and
//! maps; each is its own, shared with its siblings and no other process.

use std::fmt::Debug;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::host::with_context;
use crate::siblings::HostFuture;

/// Why a shared log or map could not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SharedError {
    /// The cluster cannot be reached just now; nothing was done (or, for an append, the
    /// record may not have been stored).
    #[error("the cluster's shared state cannot be reached now: {0}")]
    Unreachable(String),
    /// The cluster refused the operation.
    #[error("the cluster refused: {0}")]
    Refused(String),
}

/// One record of a shared log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its number: every record has a larger number than those appended before it.
    pub seq: u64,
    /// What was appended.
    pub data: Bytes,
}

/// What a host implements to keep a shared log.
pub trait LogBackend: Send + Sync + Debug + 'static {
    /// Appends `records` in order; one result per record, its number or why it failed.
    fn append(&self, records: Vec<Bytes>) -> HostFuture<Vec<Result<u64, SharedError>>>;
    /// The records numbered `first..=last` that exist, in order.
    fn read(&self, first: u64, last: u64) -> HostFuture<Result<Vec<Record>, SharedError>>;
    /// The number of the last record (0 when there is none).
    fn last_seq(&self) -> HostFuture<Result<u64, SharedError>>;
    /// Every record after `after`, in order, as it is appended, until the receiver is
    /// dropped. The host resumes by itself after a loss of its link, missing none.
    fn follow(&self, after: u64) -> mpsc::Receiver<Record>;
}

/// What a host implements to keep a shared map.
pub trait MapBackend: Send + Sync + Debug + 'static {
    /// Sets `key` only when it has no value; true when it was set.
    fn create(&self, key: String, value: Bytes) -> HostFuture<Result<bool, SharedError>>;
    /// Sets `key`, renewing its time to live.
    fn put(&self, key: String, value: Bytes) -> HostFuture<Result<(), SharedError>>;
    /// Removes `key`.
    fn delete(&self, key: String) -> HostFuture<Result<(), SharedError>>;
    /// Every key with a value now.
    fn entries(&self) -> HostFuture<Result<Vec<(String, Bytes)>, SharedError>>;
}

/// A log shared by a process and its siblings.
#[derive(Clone, Debug)]
pub struct SharedLog(std::sync::Arc<dyn LogBackend>);

impl SharedLog {
    /// A log kept by `backend` (a host makes these).
    pub fn new(backend: std::sync::Arc<dyn LogBackend>) -> Self {
        Self(backend)
    }

    /// Appends `records` in order; one result per record: its number, or why it failed. A
    /// record is stored by the cluster when its number comes back.
    pub async fn append(&self, records: Vec<Bytes>) -> Vec<Result<u64, SharedError>> {
        self.0.append(records).await
    }

    /// The records numbered `first..=last`, in order.
    pub async fn read(&self, first: u64, last: u64) -> Result<Vec<Record>, SharedError> {
        self.0.read(first, last).await
    }

    /// The number of the last record (0 when there is none).
    pub async fn last_seq(&self) -> Result<u64, SharedError> {
        self.0.last_seq().await
    }

    /// Every record after `after`, in order, as it is appended by any instance.
    pub fn follow(&self, after: u64) -> mpsc::Receiver<Record> {
        self.0.follow(after)
    }
}

/// A map shared by a process and its siblings, whose keys expire unless written again.
#[derive(Clone, Debug)]
pub struct SharedMap(std::sync::Arc<dyn MapBackend>);

impl SharedMap {
    /// A map kept by `backend` (a host makes these).
    pub fn new(backend: std::sync::Arc<dyn MapBackend>) -> Self {
        Self(backend)
    }

    /// Sets `key` only when it has no value; true when this call set it.
    pub async fn create(&self, key: &str, value: impl Into<Bytes>) -> Result<bool, SharedError> {
        self.0.create(key.to_owned(), value.into()).await
    }

    /// Sets `key`, renewing its time to live.
    pub async fn put(&self, key: &str, value: impl Into<Bytes>) -> Result<(), SharedError> {
        self.0.put(key.to_owned(), value.into()).await
    }

    /// Removes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), SharedError> {
        self.0.delete(key.to_owned()).await
    }

    /// Every key with a value now.
    pub async fn entries(&self) -> Result<Vec<(String, Bytes)>, SharedError> {
        self.0.entries().await
    }
}

/// The log `name` this process shares with its siblings; `None` when the node is not
/// clustered. A name has only `a-z`, `0-9` and `-`.
#[track_caller]
pub fn log(name: &str) -> Option<SharedLog> {
    with_context(|ctx| ctx.host.shared_log(&ctx.our.process, name))
}

/// The map `name` this process shares with its siblings, whose entries vanish `ttl` after
/// they were last written; `None` when the node is not clustered. A name has only `a-z`,
/// `0-9` and `-`; the same name must be opened with the same `ttl` by every instance.
#[track_caller]
pub fn map(name: &str, ttl: Duration) -> Option<SharedMap> {
    with_context(|ctx| ctx.host.shared_map(&ctx.our.process, name, ttl))
}
