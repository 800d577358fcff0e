//! The cluster's background work, each a task the node's shutdown ends: the inbox applies
//! pushes from other instances to this instance's channels; the publisher hands pushes to
//! NATS; the heartbeat renews the instance number and gives it back at shutdown.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Subject, Subscriber};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::lease::{Beat, Lease};
use super::wire::Push;
use crate::runtime::Runtime;

/// What `join` prepared for the tasks.
#[derive(Debug)]
pub(super) struct Background {
    pub inbox: Subscriber,
    pub calls: Subscriber,
    pub published: Subscriber,
    pub outgoing: mpsc::Receiver<(Subject, Bytes)>,
    pub lease: Lease,
    pub heartbeat: Duration,
}

pub(super) fn spawn(rt: &Arc<Runtime>, client: Client, background: Background) {
    let Background {
        inbox,
        calls,
        published,
        outgoing,
        lease,
        heartbeat,
    } = background;
    // The lease is given back only once this instance has stopped answering its siblings,
    // so an instance seen gone is never asked in vain.
    let (unsubscribed, deaf) = oneshot::channel();
    rt.tasks.spawn(receive(rt.clone(), inbox));
    rt.tasks.spawn(sibling_calls(
        rt.clone(),
        client.clone(),
        calls,
        published,
        unsubscribed,
    ));
    rt.tasks.spawn(watch_live(rt.clone(), lease.store()));
    rt.tasks.spawn(publish(rt.clone(), client, outgoing));
    rt.tasks.spawn(beat(rt.clone(), lease, heartbeat, deaf));
}

/// Applies each push from another instance to the channels it names.
async fn receive(rt: Arc<Runtime>, mut inbox: Subscriber) {
    let Some(cluster) = &rt.cluster else { return };
    loop {
        let message = tokio::select! {
            _ = rt.shutdown.cancelled() => break,
            message = inbox.next() => message,
        };
        let Some(message) = message else { break };
        let push = match Push::decode(&message.payload) {
            Ok(push) => push,
            Err(error) => {
                cluster.stats.count_malformed();
                tracing::warn!(%error, subject = %message.subject, "dropped a cluster message");
                continue;
            }
        };
        cluster.stats.count_received();
        let mut failed = Vec::new();
        rt.channels.push_many(
            &push.source,
            &push.channel_ids,
            push.message_type,
            &push.blob(),
            &mut failed,
        );
        if !failed.is_empty() {
            cluster.stats.count_undelivered(failed.len());
            tracing::debug!(process = %push.source, ?failed, "cross-instance push not delivered");
        }
    }
}

/// Hands each call from a sibling, asking or publishing, to the local process.
async fn sibling_calls(
    rt: Arc<Runtime>,
    client: Client,
    mut calls: Subscriber,
    mut published: Subscriber,
    unsubscribed: oneshot::Sender<()>,
) {
    let Some(cluster) = &rt.cluster else { return };
    loop {
        let message = tokio::select! {
            _ = rt.shutdown.cancelled() => break,
            message = calls.next() => message,
            message = published.next() => message,
        };
        let Some(message) = message else { break };
        super::siblings::deliver(&rt, cluster, &message.payload, message.reply);
    }
    let stop = async {
        let _ = calls.unsubscribe().await;
        let _ = published.unsubscribe().await;
        let _ = client.flush().await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), stop).await;
    let _ = unsubscribed.send(());
}

/// Follows the bucket of claims, so an instance that joins or stops cleanly is seen at once
/// (a lapsed claim is seen at the next heartbeat's listing). Watches again after a loss.
async fn watch_live(rt: Arc<Runtime>, store: async_nats::jetstream::kv::Store) {
    use async_nats::jetstream::kv::Operation;
    let Some(cluster) = &rt.cluster else { return };
    while !rt.shutdown.is_cancelled() {
        let mut watch = match store.watch_all().await {
            Ok(watch) => watch,
            Err(error) => {
                tracing::debug!(%error, "cannot watch the live instances; trying again");
                tokio::select! {
                    _ = rt.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                }
            }
        };
        loop {
            let entry = tokio::select! {
                _ = rt.shutdown.cancelled() => return,
                entry = watch.next() => entry,
            };
            let Some(Ok(entry)) = entry else { break };
            if let Some(instance) = super::lease::instance_of_key(&entry.key) {
                cluster
                    .siblings
                    .mark(instance, entry.operation == Operation::Put);
            }
        }
    }
}

/// Hands queued pushes to NATS, in order.
async fn publish(rt: Arc<Runtime>, client: Client, mut outgoing: mpsc::Receiver<(Subject, Bytes)>) {
    loop {
        let next = tokio::select! {
            _ = rt.shutdown.cancelled() => break,
            next = outgoing.recv() => next,
        };
        let Some((subject, payload)) = next else {
            break;
        };
        if let Err(error) = client.publish(subject, payload).await {
            tracing::warn!(%error, "cross-instance push not published");
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), client.flush()).await;
}

/// Renews the instance number every `every`; gives it back when the node shuts down.
async fn beat(rt: Arc<Runtime>, mut lease: Lease, every: Duration, deaf: oneshot::Receiver<()>) {
    let Some(cluster) = &rt.cluster else { return };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = rt.shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        if !cluster.is_up() {
            continue;
        }
        let beat = lease.beat().await;
        match lease.live().await {
            Ok(live) => cluster.siblings.set_live(live),
            Err(error) => tracing::debug!(%error, "cannot list the live instances"),
        }
        if beat == Beat::Lost {
            cluster.stats.count_lease_lost();
            tracing::error!(
                instance = lease.instance,
                "another instance took this instance's number while NATS was away; \
                 restart this instance so channel ids stay unique"
            );
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), deaf).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), lease.release()).await;
}
