//! One node as several instances: every instance of a node connects to the same NATS server,
//! claims an instance number, and listens on its own subject for pushes to its channels.
//!
//! A push to a channel of this instance never comes here: [`Runtime`]'s `ws_push` reads the
//! instance number in the channel id's top bits and keeps the local path as it was. A push to
//! another instance's channel is published on that instance's subject, one NATS message per
//! destination instance. While NATS is away such a push fails at once with
//! [`HttpServerError::InstanceUnreachable`] and is counted; local traffic goes on, and the
//! client reconnects by itself.
//!
//! ## Layout
//! - [`ids`]: the instance number in a channel id.
//! - [`wire`]: the push message between instances.
//! - `lease`: claiming and renewing the instance number in a JetStream key-value bucket.
//! - `tasks`: the background work: the inbox, the publisher, the heartbeat, the watch on
//!   which instances are live.
//! - [`siblings`]: a process's calls to the same process on the other instances.
//! - [`shared`]: the logs and maps processes share across instances, on JetStream.
//! - [`stats`]: the counters.

pub mod ids;
mod lease;
pub mod shared;
pub mod siblings;
pub mod stats;
mod tasks;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, ConnectOptions, Event, Subject};
use bytes::Bytes;
use parking_lot::Mutex;
use process_lib::{HttpServerError, LazyLoadBlob, ProcessId, WsMessageType};
use tokio::sync::{mpsc, watch};

use crate::config::ClusterConfig;
use crate::runtime::Runtime;
use crate::ws::table::ChannelTable;

pub use stats::{ClusterStats, ClusterStatsSnapshot};

/// Pushes waiting for the publisher task; a push finding this full fails at once.
const OUTGOING: usize = 8192;

/// How long an instance waits between two tries to reach NATS at start.
const RETRY: Duration = Duration::from_millis(500);

/// Why an instance could not join its cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The NATS address does not parse.
    #[error("the cluster address {url:?} is not a NATS URL (nats://HOST:PORT): {reason}")]
    Url {
        /// The address given.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// JetStream refused or failed (it must be enabled on the server: `nats-server -js`).
    #[error("the cluster's NATS server failed a JetStream request (is JetStream on? `nats-server -js`): {0}")]
    JetStream(String),
    /// Listening on the instance's subject failed.
    #[error("cannot subscribe to the cluster's NATS server: {0}")]
    Subscribe(String),
    /// Every instance number is taken.
    #[error(
        "the cluster already has {} instances; no instance number is free",
        ids::MAX_INSTANCE
    )]
    Full,
}

/// This instance's membership of its node's cluster.
#[derive(Debug)]
pub struct Cluster {
    instance: u8,
    /// The node's name as NATS subjects and buckets spell it.
    name: String,
    client: Client,
    jetstream: async_nats::jetstream::Context,
    /// Which instances are live, and the sibling calls waiting for an answer.
    siblings: siblings::Siblings,
    /// The push subject of every instance, by instance number.
    subjects: Vec<Subject>,
    outgoing: mpsc::Sender<(Subject, Bytes)>,
    up: watch::Sender<bool>,
    /// The counters.
    pub stats: Arc<ClusterStats>,
    background: Mutex<Option<tasks::Background>>,
}

/// The NATS name of node `node`: dots separate subject tokens, and `_` is never in a node
/// name, so the mapping is one to one.
fn nats_name(node: &str) -> String {
    node.replace('.', "_")
}

/// Joins the cluster of `node` on the NATS server of `config`: waits for the server (saying
/// so once when it cannot be reached), then claims an instance number and subscribes.
pub async fn join(node: &str, config: &ClusterConfig) -> Result<Cluster, ClusterError> {
    let url = config.nats_url.clone();
    url.parse::<async_nats::ServerAddr>()
        .map_err(|e| ClusterError::Url {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    let (up, _) = watch::channel(false);
    let stats = Arc::new(ClusterStats::default());
    let client = connect(&url, &up).await;
    up.send_replace(true);
    let name = nats_name(node);
    let jetstream = async_nats::jetstream::new(client.clone());
    let lease = lease::claim(&jetstream, format!("switchboard_{name}_instances"), config).await?;
    let instance = lease.instance;
    let subjects: Vec<Subject> = (0..=ids::MAX_INSTANCE)
        .map(|i| Subject::from(format!("switchboard.{name}.{i}.push")))
        .collect();
    let subscribe = |subject: String| {
        let client = client.clone();
        async move {
            client
                .subscribe(subject)
                .await
                .map_err(|e| ClusterError::Subscribe(e.to_string()))
        }
    };
    let inbox = subscribe(subjects[usize::from(instance)].to_string()).await?;
    let calls = subscribe(format!("switchboard.{name}.{instance}.sibling")).await?;
    let published = subscribe(format!("switchboard.{name}.siblings")).await?;
    let siblings = siblings::Siblings::default();
    siblings.set_live(lease.live().await?);
    let (outgoing, outgoing_rx) = mpsc::channel(OUTGOING);
    tracing::info!(instance, nats = %url, "joined the node's cluster");
    Ok(Cluster {
        instance,
        name,
        client,
        jetstream,
        siblings,
        subjects,
        outgoing,
        up,
        stats,
        background: Mutex::new(Some(tasks::Background {
            inbox,
            calls,
            published,
            outgoing: outgoing_rx,
            lease,
            heartbeat: config.heartbeat(),
        })),
    })
}

/// Connects, retrying until NATS answers; the first failure is said once, as a warning.
async fn connect(url: &str, up: &watch::Sender<bool>) -> Client {
    let mut said = false;
    loop {
        let events = up.clone();
        let events_url = url.to_owned();
        let options = ConnectOptions::new()
            .name("switchboard")
            .connection_timeout(Duration::from_secs(2))
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100 * attempts.min(10) as u64)
            })
            .event_callback(move |event| {
                let events = events.clone();
                let url = events_url.clone();
                async move { on_event(&events, &url, event) }
            });
        match options.connect(url).await {
            Ok(client) => return client,
            Err(error) if !said => {
                tracing::warn!(nats = %url, %error, "cannot reach the cluster's NATS server; retrying");
                said = true;
            }
            Err(error) => tracing::debug!(%error, "NATS still unreachable"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

fn on_event(up: &watch::Sender<bool>, url: &str, event: Event) {
    match event {
        Event::Connected => {
            if !up.send_replace(true) {
                tracing::info!(nats = %url, "cluster link back; cross-instance pushes resume");
            }
        }
        Event::Disconnected => {
            if up.send_replace(false) {
                tracing::warn!(nats = %url, "cluster link lost; cross-instance pushes fail until it is back");
            }
        }
        other => tracing::debug!(event = %other, "NATS event"),
    }
}

impl Cluster {
    /// This instance's number (1 to 255), the top 8 bits of its channel ids.
    pub fn instance(&self) -> u8 {
        self.instance
    }

    /// The instance holding channel `id`, when it is not this one. Ids of instance 0 belong
    /// to no clustered instance: they are looked up here, and found nowhere.
    pub fn remote_owner(&self, id: u32) -> Option<u8> {
        let owner = ids::instance_of(id);
        (owner != self.instance && owner != 0).then_some(owner)
    }

    /// The log `name` of `process`, shared by the instances; `None` for a bad name.
    pub fn shared_log(
        &self,
        process: &ProcessId,
        name: &str,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> Option<process_lib::shared::SharedLog> {
        let log = shared::JetStreamLog::new(
            self.jetstream.clone(),
            &self.name,
            process,
            name,
            shutdown.clone(),
            self.up.subscribe(),
        )?;
        Some(process_lib::shared::SharedLog::new(Arc::new(log)))
    }

    /// The map `name` of `process`, shared by the instances; `None` for a bad name.
    pub fn shared_map(
        &self,
        process: &ProcessId,
        name: &str,
        ttl: Duration,
    ) -> Option<process_lib::shared::SharedMap> {
        let map =
            shared::JetStreamMap::new(self.jetstream.clone(), &self.name, process, name, ttl)?;
        Some(process_lib::shared::SharedMap::new(Arc::new(map)))
    }

    /// Whether the link to NATS is up.
    pub fn is_up(&self) -> bool {
        *self.up.borrow() && self.client.connection_state() == State::Connected
    }

    /// Waits until the link to NATS is up (`up`) or down.
    pub async fn wait_up(&self, up: bool) {
        let mut watch = self.up.subscribe();
        // The sender lives in `self`, so the wait ends only with the state.
        let _ = watch.wait_for(|now| *now == up).await;
    }

    /// Publishes a push of `blob` by `source` to `channel_ids`, all held by `owner`.
    pub fn push(
        &self,
        owner: u8,
        source: &ProcessId,
        channel_ids: Vec<u32>,
        message_type: WsMessageType,
        blob: &LazyLoadBlob,
    ) -> Result<(), HttpServerError> {
        if !self.is_up() {
            self.stats.count_unreachable(channel_ids.len());
            return Err(HttpServerError::InstanceUnreachable);
        }
        let payload = wire::Push::new(source, message_type, channel_ids, blob);
        let subject = self.subjects[usize::from(owner)].clone();
        match self.outgoing.try_send((subject, payload.encode())) {
            Ok(()) => {
                self.stats.count_sent();
                Ok(())
            }
            Err(_) => {
                self.stats.count_unreachable(payload.channel_ids.len());
                Err(HttpServerError::InstanceUnreachable)
            }
        }
    }

    /// Whether any of `ids` is held by another instance.
    pub fn any_remote(&self, ids: &[u32]) -> bool {
        ids.iter().any(|&id| self.remote_owner(id).is_some())
    }

    /// A push to many channels some of which are on other instances: the local ones go to
    /// `channels` as ever, the others in one message per instance. Returns the failures.
    pub fn push_many(
        &self,
        channels: &ChannelTable,
        source: &ProcessId,
        ids: &[u32],
        message_type: WsMessageType,
        blob: &LazyLoadBlob,
    ) -> Vec<(u32, HttpServerError)> {
        let mut local = Vec::new();
        let mut remote: BTreeMap<u8, Vec<u32>> = BTreeMap::new();
        for &id in ids {
            match self.remote_owner(id) {
                Some(owner) => remote.entry(owner).or_default().push(id),
                None => local.push(id),
            }
        }
        let mut failed = Vec::new();
        channels.push_many(source, &local, message_type, blob, &mut failed);
        for (owner, ids) in remote {
            let copy = ids.clone();
            if let Err(error) = self.push(owner, source, ids, message_type, blob) {
                failed.extend(copy.into_iter().map(|id| (id, error)));
            }
        }
        failed
    }
}

/// Starts the cluster's background tasks of `rt`, when it is clustered.
pub fn start(rt: &Arc<Runtime>) {
    let Some(cluster) = &rt.cluster else {
        return;
    };
    if let Some(background) = cluster.background.lock().take() {
        tasks::spawn(rt, cluster.client.clone(), background);
    }
}
