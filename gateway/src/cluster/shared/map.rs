//! A process's shared map: a JetStream key-value bucket whose age limit is the map's time to
//! live, its keys written in hexadecimal so any string is a key.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::kv::{self, CreateErrorKind};
use async_nats::jetstream::Context;
use bytes::Bytes;
use futures_util::StreamExt;
use process_lib::shared::{MapBackend, SharedError};
use process_lib::siblings::HostFuture;
use process_lib::ProcessId;
use tokio::sync::OnceCell;

use super::{linked, patiently, stem, unreachable, PATIENCE};

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
}
