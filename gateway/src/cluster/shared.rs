//! The logs and maps a process shares with its siblings, kept by JetStream so they outlive
//! any instance: a [`SharedLog`] is a stream (a record's number is its stream sequence), a
//! [`SharedMap`] a key-value bucket whose age limit is the map's time to live. Both are made
//! on first use, so asking for one returns at once and works once NATS is there.
//!
//! Streams are named `switchboard_<node>_<process>_<log>`, buckets the same with `kv`, with
//! `.` and `:` written `_`.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::kv::{self, CreateErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, Stream};
use async_nats::jetstream::Context;
use bytes::Bytes;
use futures_util::StreamExt;
use process_lib::shared::{LogBackend, MapBackend, Record, SharedError};
use process_lib::siblings::HostFuture;
use process_lib::ProcessId;
use tokio::sync::{mpsc, watch, OnceCell};
use tokio_util::sync::CancellationToken;

/// How long one read or request to JetStream may take before it is given up.
const PATIENCE: Duration = Duration::from_secs(5);
/// How long a follower waits before following again after losing its consumer.
const RETRY: Duration = Duration::from_millis(250);
/// Records a follower holds for a process that has not taken them yet.
const FOLLOW_QUEUE: usize = 1024;

/// The part of a stream or bucket name that names a process's log or map.
fn stem(node: &str, process: &ProcessId, name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ok.then(|| {
        format!(
            "{node}_{}_{name}",
            process.to_string().replace([':', '.'], "_")
        )
    })
}

fn unreachable(error: impl std::fmt::Display) -> SharedError {
    SharedError::Unreachable(error.to_string())
}

/// Refuses at once while the link to NATS is down. A request made then would wait for the
/// link (holding up the process that asked); a publish would wait in the client's buffer and
/// might be stored long after its sender was told it failed.
fn linked(jetstream: &Context) -> Result<(), SharedError> {
    match jetstream.client().connection_state() {
        async_nats::connection::State::Connected => Ok(()),
        _ => Err(unreachable("the link to NATS is down")),
    }
}

/// A process's log: a JetStream stream with one subject.
#[derive(Debug, Clone)]
pub struct JetStreamLog(Arc<Log>);

#[derive(Debug)]
struct Log {
    jetstream: Context,
    name: String,
    subject: String,
    stream: OnceCell<Stream>,
    shutdown: CancellationToken,
    /// Whether the link to NATS is up: a follower follows again when it comes back.
    up: watch::Receiver<bool>,
}

impl JetStreamLog {
    /// The log `log` of `process` on the node NATS calls `node`; `None` for a bad name.
    pub fn new(
        jetstream: Context,
        node: &str,
        process: &ProcessId,
        log: &str,
        shutdown: CancellationToken,
        up: watch::Receiver<bool>,
    ) -> Option<Self> {
        let stem = stem(node, process, log)?;
        Some(Self(Arc::new(Log {
            jetstream,
            subject: format!("switchboard.log.{stem}"),
            name: format!("switchboard_{stem}"),
            stream: OnceCell::new(),
            shutdown,
            up,
        })))
    }
}

impl Log {
    async fn stream(&self) -> Result<&Stream, SharedError> {
        linked(&self.jetstream)?;
        self.stream
            .get_or_try_init(|| async {
                let config = stream::Config {
                    name: self.name.clone(),
                    subjects: vec![self.subject.clone()],
                    ..Default::default()
                };
                let made = self.jetstream.get_or_create_stream(config);
                match tokio::time::timeout(PATIENCE, made).await {
                    Ok(Ok(stream)) => Ok(stream),
                    Ok(Err(error)) => Err(unreachable(error)),
                    Err(_) => Err(unreachable("JetStream did not answer in time")),
                }
            })
            .await
    }

    async fn append_all(self: Arc<Self>, records: Vec<Bytes>) -> Vec<Result<u64, SharedError>> {
        if let Err(error) = self.stream().await {
            return records.iter().map(|_| Err(error.clone())).collect();
        }
        // Published in order on one connection, so their numbers follow the same order; each
        // carries an id, so a publish repeated after a lost acknowledgement is stored once.
        let mut acks = Vec::with_capacity(records.len());
        for data in records {
            let id = format!("{:032x}", rand::random::<u128>());
            let publish = PublishMessage::build().payload(data).message_id(id);
            acks.push(
                self.jetstream
                    .send_publish(self.subject.clone(), publish)
                    .await,
            );
        }
        let mut results = Vec::with_capacity(acks.len());
        for ack in acks {
            let result = match ack {
                Ok(ack) => match tokio::time::timeout(PATIENCE, ack).await {
                    Ok(Ok(ack)) => Ok(ack.sequence),
                    Ok(Err(error)) => Err(unreachable(error)),
                    Err(_) => Err(unreachable("JetStream did not acknowledge in time")),
                },
                Err(error) => Err(unreachable(error)),
            };
            results.push(result);
        }
        results
    }

    /// An ordered consumer's messages from `first` on.
    async fn from(
        &self,
        first: u64,
    ) -> Result<async_nats::jetstream::consumer::pull::Ordered, SharedError> {
        let stream = self.stream().await?;
        let config = OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: first.max(1),
            },
            ..Default::default()
        };
        let made = async {
            let consumer = stream.create_consumer(config).await.map_err(unreachable)?;
            consumer.messages().await.map_err(unreachable)
        };
        tokio::time::timeout(PATIENCE, made)
            .await
            .map_err(|_| unreachable("JetStream did not answer in time"))?
    }

    async fn read_range(
        self: Arc<Self>,
        first: u64,
        last: u64,
    ) -> Result<Vec<Record>, SharedError> {
        if last < first.max(1) {
            return Ok(Vec::new());
        }
        let mut messages = self.from(first).await?;
        let mut records = Vec::new();
        loop {
            let next = tokio::time::timeout(PATIENCE, messages.next())
                .await
                .map_err(|_| unreachable("JetStream did not deliver in time"))?;
            let Some(message) = next else { break };
            let message = message.map_err(unreachable)?;
            let info = message.info().map_err(unreachable)?;
            let (seq, pending) = (info.stream_sequence, info.pending);
            if seq > last {
                break;
            }
            records.push(Record {
                seq,
                data: message.payload.clone(),
            });
            if seq == last || pending == 0 {
                break;
            }
        }
        Ok(records)
    }

    async fn last(self: Arc<Self>) -> Result<u64, SharedError> {
        self.stream().await?;
        let info = self.jetstream.get_stream(&self.name);
        let mut stream = tokio::time::timeout(PATIENCE, info)
            .await
            .map_err(|_| unreachable("JetStream did not answer in time"))?
            .map_err(unreachable)?;
        let info = stream.info().await.map_err(unreachable)?;
        Ok(info.state.last_sequence)
    }

    /// Sends every record after `after` to `to` until it is dropped; follows again from the
    /// next record whenever the consumer is lost or the link to NATS comes back (a restarted
    /// server has forgotten the consumer).
    async fn follow_into(self: Arc<Self>, after: u64, to: mpsc::Sender<Record>) {
        let mut next = after + 1;
        let mut up = self.up.clone();
        loop {
            let mut messages = tokio::select! {
                _ = to.closed() => return,
                _ = self.shutdown.cancelled() => return,
                messages = self.from(next) => match messages {
                    Ok(messages) => messages,
                    Err(error) => {
                        tracing::debug!(%error, log = %self.name, "cannot follow a shared log; trying again");
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                },
            };
            loop {
                let message = tokio::select! {
                    _ = to.closed() => return,
                    _ = self.shutdown.cancelled() => return,
                    down = up.wait_for(|up| !*up) => Err(down.is_ok()),
                    message = messages.next() => Ok(message),
                };
                let message = match message {
                    Ok(message) => message,
                    Err(false) => return,
                    // Down: follow again once it is back.
                    Err(true) => match up.wait_for(|up| *up).await {
                        Ok(_) => break,
                        Err(_) => return,
                    },
                };
                let Some(Ok(message)) = message else { break };
                let Ok(info) = message.info() else { break };
                let seq = info.stream_sequence;
                if seq < next {
                    continue;
                }
                let record = Record {
                    seq,
                    data: message.payload.clone(),
                };
                if to.send(record).await.is_err() {
                    return;
                }
                next = seq + 1;
            }
            tracing::debug!(log = %self.name, next, "a shared log's follower lost its consumer; following again");
            tokio::time::sleep(RETRY).await;
        }
    }
}

impl LogBackend for JetStreamLog {
    fn append(&self, records: Vec<Bytes>) -> HostFuture<Vec<Result<u64, SharedError>>> {
        Box::pin(self.0.clone().append_all(records))
    }

    fn read(&self, first: u64, last: u64) -> HostFuture<Result<Vec<Record>, SharedError>> {
        Box::pin(self.0.clone().read_range(first, last))
    }

    fn last_seq(&self) -> HostFuture<Result<u64, SharedError>> {
        Box::pin(self.0.clone().last())
    }

    fn follow(&self, after: u64) -> mpsc::Receiver<Record> {
        let (to, records) = mpsc::channel(FOLLOW_QUEUE);
        tokio::spawn(self.0.clone().follow_into(after, to));
        records
    }
}

/// A process's map: a JetStream key-value bucket whose age limit is the map's time to live.
/// Keys are written in hexadecimal, so any string is a key.
#[derive(Debug, Clone)]
pub struct JetStreamMap(Arc<Map>);

#[derive(Debug)]
struct Map {
    jetstream: Context,
    bucket: String,
    ttl: Duration,
    store: OnceCell<kv::Store>,
}

fn hex(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(key: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..key.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(key.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

async fn patiently<T, E: std::fmt::Display>(
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, SharedError> {
    tokio::time::timeout(PATIENCE, work)
        .await
        .map_err(|_| unreachable("JetStream did not answer in time"))?
        .map_err(unreachable)
}

impl JetStreamMap {
    /// The map `map` of `process` on the node NATS calls `node`; `None` for a bad name.
    pub fn new(
        jetstream: Context,
        node: &str,
        process: &ProcessId,
        map: &str,
        ttl: Duration,
    ) -> Option<Self> {
        let stem = stem(node, process, map)?;
        Some(Self(Arc::new(Map {
            jetstream,
            bucket: format!("switchboard_{stem}_kv"),
            ttl,
            store: OnceCell::new(),
        })))
    }
}

impl Map {
    async fn store(&self) -> Result<&kv::Store, SharedError> {
        linked(&self.jetstream)?;
        self.store
            .get_or_try_init(|| async {
                let config = kv::Config {
                    bucket: self.bucket.clone(),
                    history: 1,
                    max_age: self.ttl,
                    ..Default::default()
                };
                match patiently(self.jetstream.create_key_value(config)).await {
                    Ok(store) => Ok(store),
                    // Made by a sibling already: use it as it is.
                    Err(_) => patiently(self.jetstream.get_key_value(self.bucket.clone())).await,
                }
            })
            .await
    }

    async fn create(self: Arc<Self>, key: String, value: Bytes) -> Result<bool, SharedError> {
        let store = self.store().await?;
        match tokio::time::timeout(PATIENCE, store.create(hex(&key), value)).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(error)) if error.kind() == CreateErrorKind::AlreadyExists => Ok(false),
            Ok(Err(error)) => Err(unreachable(error)),
            Err(_) => Err(unreachable("JetStream did not answer in time")),
        }
    }

    async fn put(self: Arc<Self>, key: String, value: Bytes) -> Result<(), SharedError> {
        let store = self.store().await?;
        patiently(store.put(hex(&key), value)).await.map(drop)
    }

    async fn delete(self: Arc<Self>, key: String) -> Result<(), SharedError> {
        let store = self.store().await?;
        patiently(store.delete(hex(&key))).await
    }

    /// Every live entry, read in one pass: the last record of each key in the bucket's
    /// stream, without the keys whose last record deletes them.
    async fn entries(self: Arc<Self>) -> Result<Vec<(String, Bytes)>, SharedError> {
        use async_nats::jetstream::consumer::{push, ReplayPolicy};
        let store = self.store().await?;
        let config = push::OrderedConfig {
            deliver_subject: self.jetstream.client().new_inbox(),
            filter_subject: format!("{}>", store.prefix),
            deliver_policy: DeliverPolicy::LastPerSubject,
            replay_policy: ReplayPolicy::Instant,
            ..Default::default()
        };
        let consumer = patiently(store.stream.create_consumer(config)).await?;
        if consumer.cached_info().num_pending == 0 {
            return Ok(Vec::new());
        }
        let mut messages = patiently(consumer.messages()).await?;
        let mut entries = Vec::new();
        loop {
            let next = tokio::time::timeout(PATIENCE, messages.next())
                .await
                .map_err(|_| unreachable("JetStream did not deliver in time"))?;
            let Some(message) = next else { break };
            let message = message.map_err(unreachable)?;
            let info = message.info().map_err(unreachable)?;
            let pending = info.pending;
            let removed = message.headers.as_ref().is_some_and(|headers| {
                headers.get("KV-Operation").is_some() || headers.get("Nats-Marker-Reason").is_some()
            });
            let key = message.subject.strip_prefix(store.prefix.as_str());
            if let (false, Some(key)) = (removed, key.and_then(unhex)) {
                entries.push((key, message.payload.clone()));
            }
            if pending == 0 {
                break;
            }
        }
        Ok(entries)
    }
}

impl MapBackend for JetStreamMap {
    fn create(&self, key: String, value: Bytes) -> HostFuture<Result<bool, SharedError>> {
        Box::pin(self.0.clone().create(key, value))
    }

    fn put(&self, key: String, value: Bytes) -> HostFuture<Result<(), SharedError>> {
        Box::pin(self.0.clone().put(key, value))
    }

    fn delete(&self, key: String) -> HostFuture<Result<(), SharedError>> {
        Box::pin(self.0.clone().delete(key))
    }

    fn entries(&self) -> HostFuture<Result<Vec<(String, Bytes)>, SharedError>> {
        Box::pin(self.0.clone().entries())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_hex() {
        for key in ["user1", "Zoë.x", ""] {
            assert_eq!(unhex(&hex(key)).as_deref(), Some(key));
        }
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn names_are_checked_and_spelled_for_nats() {
        let chat: ProcessId = "chat:chat:sys".parse().unwrap();
        assert_eq!(
            stem("a_os", &chat, "room").as_deref(),
            Some("a_os_chat_chat_sys_room")
        );
        assert_eq!(stem("a_os", &chat, "Room"), None);
        assert_eq!(stem("a_os", &chat, ""), None);
    }
}
