//! A process and its siblings (the same process on the node's other instances): which
//! instances are live, a request to one answered over NATS's request-reply, and a publish to
//! all of them on one subject every instance listens on.
//!
//! A sibling's call reaches the process as a request whose source is its own address and
//! whose `rsvp` is [`CLUSTER`], the cluster module: the process's `Response` is routed there
//! ([`answered`]), which publishes it on the NATS reply subject the call came with.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;
use std::time::Duration;

use async_nats::{RequestErrorKind, Subject};
use parking_lot::Mutex;
use process_lib::siblings::{SiblingError, SiblingReply};
use process_lib::{Address, KernelMessage, LazyLoadBlob, ProcessId, WireMessage};
use tokio::time::Instant;

use super::wire::{self, SiblingAnswer, SiblingCall};
use super::Cluster;
use crate::runtime::Runtime;

/// `cluster:distro:sys`: where a process's answer to a sibling goes.
pub static CLUSTER: LazyLock<ProcessId> = LazyLock::new(|| {
    ProcessId::new("cluster", "distro", process_lib::SYS_PUBLISHER)
        .unwrap_or_else(|_| unreachable!("the module's name is valid"))
});

/// The live instances, and the calls from siblings waiting for a local process's answer.
#[derive(Debug, Default)]
pub struct Siblings {
    /// Instance numbers holding a lease now, this one included.
    live: Mutex<BTreeSet<u8>>,
    /// Reply subjects by the id of the request delivered to the process, with when the
    /// asking sibling stops waiting.
    waiting: Mutex<HashMap<u64, (Subject, Instant)>>,
}

impl Siblings {
    /// Replaces the live set with `instances` (from a listing of the leases).
    pub(super) fn set_live(&self, instances: BTreeSet<u8>) {
        *self.live.lock() = instances;
    }

    /// Marks `instance` live (`true`) or gone.
    pub(super) fn mark(&self, instance: u8, live: bool) {
        let mut set = self.live.lock();
        if live {
            set.insert(instance);
        } else {
            set.remove(&instance);
        }
    }

    fn wait_for_answer(&self, id: u64, reply: Subject, until: Instant) {
        let mut waiting = self.waiting.lock();
        let now = Instant::now();
        waiting.retain(|_, (_, deadline)| *deadline > now);
        waiting.insert(id, (reply, until));
    }
}

impl Cluster {
    /// The live instances other than this one.
    pub fn siblings(&self) -> Vec<u8> {
        let live = self.siblings.live.lock();
        live.iter()
            .copied()
            .filter(|&i| i != self.instance)
            .collect()
    }

    /// Asks the same process on `instance` and awaits its answer.
    pub fn sibling_request(
        &self,
        source: &Address,
        instance: u8,
        body: Vec<u8>,
        blob: Option<LazyLoadBlob>,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<SiblingReply, SiblingError>> + Send + 'static
    {
        let up = self.is_up();
        let client = self.client.clone();
        let subject = Subject::from(format!("switchboard.{}.{instance}.sibling", self.name));
        let call = SiblingCall {
            from: self.instance,
            process: source.process.clone(),
            timeout_ms: Some(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)),
            body,
            blob: wire::blob_parts(blob),
        };
        async move {
            if !up {
                return Err(SiblingError::Unreachable(
                    "this instance's link to NATS is down".to_owned(),
                ));
            }
            let request = async_nats::Request::new()
                .payload(wire::encode(&call))
                .timeout(Some(timeout));
            let message =
                client
                    .send_request(subject, request)
                    .await
                    .map_err(|error| match error.kind() {
                        RequestErrorKind::NoResponders => SiblingError::Gone(instance),
                        RequestErrorKind::TimedOut => SiblingError::Timeout { instance, timeout },
                        RequestErrorKind::Other => SiblingError::Unreachable(error.to_string()),
                    })?;
            match wire::decode::<SiblingAnswer>(&message.payload) {
                Ok(SiblingAnswer::Response { body, blob }) => Ok(SiblingReply {
                    body,
                    blob: wire::blob_from(blob),
                }),
                Ok(SiblingAnswer::NotRunning) => Err(SiblingError::NotRunning(instance)),
                Err(error) => Err(SiblingError::Unreachable(error.to_string())),
            }
        }
    }

    /// Publishes to the same process on every other instance; returns how many are live.
    pub fn sibling_publish(
        &self,
        source: &Address,
        body: Vec<u8>,
        blob: Option<LazyLoadBlob>,
    ) -> usize {
        let siblings = self.siblings().len();
        if siblings == 0 || !self.is_up() {
            return 0;
        }
        let call = SiblingCall {
            from: self.instance,
            process: source.process.clone(),
            timeout_ms: None,
            body,
            blob: wire::blob_parts(blob),
        };
        let subject = Subject::from(format!("switchboard.{}.siblings", self.name));
        match self.outgoing.try_send((subject, wire::encode(&call))) {
            Ok(()) => siblings,
            Err(_) => 0,
        }
    }
}

/// Delivers a sibling's call (on `reply` when it waits for an answer) to the local process.
pub(super) fn deliver(rt: &Runtime, cluster: &Cluster, payload: &[u8], reply: Option<Subject>) {
    let call = match wire::decode::<SiblingCall>(payload) {
        Ok(call) => call,
        Err(error) => {
            cluster.stats.count_malformed();
            tracing::warn!(%error, "dropped a sibling's call");
            return;
        }
    };
    if call.from == cluster.instance {
        return;
    }
    let reply = reply.filter(|_| call.timeout_ms.is_some());
    let Some(mailbox) = rt.processes.mailbox(&call.process) else {
        refuse(cluster, reply);
        return;
    };
    let id = process_lib::host::Host::next_id(rt);
    let our = rt.address(call.process.clone());
    let expects_response = call.timeout_ms.map(|ms| ms.div_ceil(1000).max(1));
    let message = KernelMessage {
        id,
        source: our.clone(),
        target: our,
        rsvp: Some(rt.address(CLUSTER.clone())),
        message: WireMessage::Request {
            expects_response,
            body: call.body,
        },
        blob: wire::blob_from(call.blob),
    };
    if let (Some(reply), Some(ms)) = (&reply, call.timeout_ms) {
        let until = Instant::now() + Duration::from_millis(ms);
        cluster.siblings.wait_for_answer(id, reply.clone(), until);
    }
    if mailbox.try_send(message).is_err() {
        cluster.siblings.waiting.lock().remove(&id);
        refuse(cluster, reply);
    }
}

/// Tells a waiting sibling the process is not here to answer.
fn refuse(cluster: &Cluster, reply: Option<Subject>) {
    if let Some(reply) = reply {
        let answer = wire::encode(&SiblingAnswer::NotRunning);
        let _ = cluster.outgoing.try_send((reply, answer));
    }
}

/// A local process's answer to a sibling's request: sent back on the request's reply subject.
pub fn answered(rt: &Runtime, message: KernelMessage) {
    let Some(cluster) = &rt.cluster else { return };
    let WireMessage::Response { body } = message.message else {
        return;
    };
    let Some((reply, _)) = cluster.siblings.waiting.lock().remove(&message.id) else {
        tracing::debug!(
            id = message.id,
            "an answer to a sibling that stopped waiting"
        );
        return;
    };
    let answer = SiblingAnswer::Response {
        body,
        blob: wire::blob_parts(message.blob),
    };
    if cluster
        .outgoing
        .try_send((reply, wire::encode(&answer)))
        .is_err()
    {
        tracing::warn!("an answer to a sibling was not sent: the cluster link is too busy");
    }
}
