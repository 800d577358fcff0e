//! A process's shared log: a JetStream stream with one subject, read by ordered consumers.

use std::sync::Arc;

use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, Stream};
use async_nats::jetstream::Context;
use bytes::Bytes;
use futures_util::StreamExt;
use process_lib::shared::{LogBackend, Record, SharedError};
use process_lib::siblings::HostFuture;
use process_lib::ProcessId;
use tokio::sync::{mpsc, watch, OnceCell};
use tokio_util::sync::CancellationToken;

use super::{linked, stem, unreachable, FOLLOW_QUEUE, PATIENCE, RETRY};

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
