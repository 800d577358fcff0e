//! An instance's claim on its instance number: a key `instance-N` in the node's JetStream
//! key-value bucket, created only if absent, kept alive by a heartbeat, and dropped by the
//! bucket's age limit when the instance stops beating (killed, cut off).

use async_nats::jetstream::kv::{self, CreateErrorKind, Store};
use bytes::Bytes;

use super::ids::MAX_INSTANCE;
use super::ClusterError;
use crate::config::ClusterConfig;

/// This instance's claim.
#[derive(Debug)]
pub struct Lease {
    store: Store,
    key: String,
    /// A random value only this instance writes, to tell its claim from another's.
    owner: Bytes,
    revision: u64,
    /// The instance number claimed.
    pub instance: u8,
}

fn key(instance: u8) -> String {
    format!("instance-{instance}")
}

/// Opens (or makes) the node's bucket of claims and claims the lowest free number.
pub async fn claim(
    jetstream: &async_nats::jetstream::Context,
    bucket: String,
    config: &ClusterConfig,
) -> Result<Lease, ClusterError> {
    let bucket_config = kv::Config {
        bucket: bucket.clone(),
        history: 1,
        max_age: config.lease_ttl,
        ..Default::default()
    };
    let store = match jetstream.create_key_value(bucket_config).await {
        Ok(store) => store,
        // Made by another instance with other settings: use it as it is.
        Err(create) => jetstream.get_key_value(bucket).await.map_err(|get| {
            ClusterError::JetStream(format!("{create} ({get})", create = source_chain(&create)))
        })?,
    };
    let owner = Bytes::from(format!("{:032x}", rand::random::<u128>()));
    for instance in 1..=MAX_INSTANCE {
        match store.create(key(instance), owner.clone()).await {
            Ok(revision) => {
                return Ok(Lease {
                    store,
                    key: key(instance),
                    owner,
                    revision,
                    instance,
                })
            }
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => continue,
            Err(e) => return Err(ClusterError::JetStream(e.to_string())),
        }
    }
    Err(ClusterError::Full)
}

/// What a heartbeat found.
#[derive(Debug, PartialEq, Eq)]
pub enum Beat {
    /// The claim is renewed.
    Renewed,
    /// NATS did not answer; the claim is renewed at a later beat.
    Missed,
    /// Another instance holds the number now (this one was cut off longer than a lease).
    Lost,
}

impl Lease {
    /// Renews the claim; re-creates it if it lapsed while NATS was away and nobody took it.
    pub async fn beat(&mut self) -> Beat {
        match self
            .store
            .update(&self.key, self.owner.clone(), self.revision)
            .await
        {
            Ok(revision) => {
                self.revision = revision;
                return Beat::Renewed;
            }
            Err(error) => tracing::debug!(%error, "cluster heartbeat update failed"),
        }
        match self.store.entry(&self.key).await {
            Ok(Some(entry)) if entry.value == self.owner => {
                self.revision = entry.revision;
                Beat::Missed
            }
            Ok(Some(entry)) if entry.operation == kv::Operation::Put => Beat::Lost,
            Ok(_) => match self.store.create(&self.key, self.owner.clone()).await {
                Ok(revision) => {
                    self.revision = revision;
                    Beat::Renewed
                }
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Beat::Lost,
                Err(_) => Beat::Missed,
            },
            Err(_) => Beat::Missed,
        }
    }

    /// The instance numbers claimed now, this one's included.
    pub async fn live(&self) -> Result<std::collections::BTreeSet<u8>, ClusterError> {
        live_in(&self.store).await
    }

    /// The bucket of claims, to watch.
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// Gives the number back at a clean shutdown, so a new instance may take it at once.
    pub async fn release(self) {
        if let Err(error) = self.store.purge(&self.key).await {
            tracing::debug!(%error, "cluster lease not released; it lapses by itself");
        }
    }
}

/// The instance number a key of the bucket of claims names.
pub fn instance_of_key(key: &str) -> Option<u8> {
    key.strip_prefix("instance-")?.parse().ok()
}

async fn live_in(store: &Store) -> Result<std::collections::BTreeSet<u8>, ClusterError> {
    use futures_util::TryStreamExt;
    let keys = store
        .keys()
        .await
        .map_err(|e| ClusterError::JetStream(e.to_string()))?;
    let keys: Vec<String> = keys
        .try_collect()
        .await
        .map_err(|e| ClusterError::JetStream(e.to_string()))?;
    Ok(keys.iter().filter_map(|k| instance_of_key(k)).collect())
}

/// An error and its causes, on one line.
fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}
