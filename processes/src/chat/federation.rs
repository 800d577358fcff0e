//! Chat across nodes: what the chat on one node tells the chat on a linked peer, and what it
//! keeps for that (the configured peers, the whispers that wait for a peer's answer).
//!
//! The wire is a JSON request body between `chat:chat:sys` on two nodes. The author's node is
//! never a field: it is the message's source node, which the link has authenticated.
//! - `{"Relay":{"from":"user1","text":"hi","ts":…}}`, sent without waiting to every
//!   configured peer when a local member says something. The peer archives it and shows it
//!   to its members as `[user1@alice.os]: hi`; it never forwards it again, so a message
//!   reaches each directly linked chat exactly once, however the nodes are meshed.
//! - `{"Whisper":{"id":7,"from":"user1","to":"user3","text":"psst","ts":…}}`, a request that
//!   expects an answer: `{"Delivered":{"id":7,"to":"user3"}}` when `user3` is there (and was
//!   shown it), `{"NoSuchPerson":{"id":7}}` otherwise. The sender's chat keeps the whisper in
//!   [`Federation`] until the answer, a bounce (`Offline`) or [`WHISPER_TIMEOUT`]; it never
//!   waits for it, so the chat serves everyone else meanwhile.

use std::collections::BTreeMap;
use std::time::Duration;

use process_lib::{Address, ProcessId, Request, RequestError, SendErrorKind};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// How long a whisper to another node waits for that node's answer.
pub const WHISPER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the list of configured peers is used before the net module is asked again.
const PEERS_MAX_AGE: Duration = Duration::from_secs(5);
/// How long to wait for the net module's list of peers (it answers from memory).
const PEERS_TIMEOUT_SECS: u64 = 2;

/// A request from the chat on one node to the chat on a peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum FedRequest {
    /// A message a member of the sending chat said to everyone.
    Relay {
        /// The author's name on their node.
        from: String,
        /// What they said.
        text: String,
        /// When their chat accepted it, in milliseconds since the Unix epoch.
        ts: u64,
    },
    /// A message for one member of the receiving chat.
    Whisper {
        /// The sender's number for it, echoed in the answer.
        id: u64,
        /// The author's name on their node.
        from: String,
        /// The name of the member it is for.
        to: String,
        /// What they said.
        text: String,
        /// When it was said, in milliseconds since the Unix epoch.
        ts: u64,
    },
}

/// The answer to a [`FedRequest::Whisper`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum FedResponse {
    /// The member was shown it; `to` is their name as they have it (case and all).
    Delivered {
        /// The whisper's id.
        id: u64,
        /// The member's name.
        to: String,
    },
    /// Nobody of that name is in the chat there.
    NoSuchPerson {
        /// The whisper's id.
        id: u64,
    },
}

/// Splits `name@node` into its parts; `None` for a plain name.
pub fn split_remote(to: &str) -> Option<(&str, &str)> {
    to.rsplit_once('@')
}

/// A whisper sent to another node, waiting for its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The sender's channel.
    pub channel_id: u32,
    /// The sender's name when they sent it.
    pub from: String,
    /// The name it was for, as the sender wrote it.
    pub to: String,
    /// The node it went to.
    pub node: String,
    /// What was said.
    pub text: String,
    /// When it was said.
    pub ts: u64,
    deadline: Instant,
}

/// How a whisper to another node ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Shown to the member, whose name is this.
    Delivered(String),
    /// Nobody of that name is there.
    NoSuchPerson,
    /// The node could not be reached.
    Offline,
    /// The node did not answer in time.
    Timeout,
}

/// This chat's side of the federation.
#[derive(Debug)]
pub struct Federation {
    our: Address,
    peers: Vec<String>,
    fetched: Option<Instant>,
    pending: BTreeMap<u64, Pending>,
    last_id: u64,
}

impl Federation {
    /// The federation of the chat at `our`, before it has asked for its peers.
    pub fn new(our: Address) -> Self {
        Self {
            our,
            peers: Vec::new(),
            fetched: None,
            pending: BTreeMap::new(),
            last_id: 0,
        }
    }

    fn chat_on(&self, node: &str) -> Address {
        Address {
            node: node.into(),
            process: self.our.process.clone(),
        }
    }

    /// The process id of the chat, the same on every node.
    pub fn process(&self) -> &ProcessId {
        &self.our.process
    }

    /// Asks the net module for the configured peers, unless the list is fresh. This waits
    /// for the net module's answer, which becomes the message being handled.
    pub async fn refresh_peers(&mut self) {
        if self.fetched.is_some_and(|at| at.elapsed() < PEERS_MAX_AGE) {
            return;
        }
        match process_lib::net::peers(PEERS_TIMEOUT_SECS).await {
            Ok(peers) => self.peers = peers.into_iter().map(|peer| peer.name).collect(),
            Err(error) => tracing::warn!(%error, "the chat cannot list this node's peers"),
        }
        self.fetched = Some(Instant::now());
    }

    /// Sends a local member's message to the chat on every peer known from the last
    /// [`Federation::refresh_peers`], without waiting. A peer that is not linked now misses
    /// it (the net module logs that).
    pub fn relay(&self, from: &str, text: &str, ts: u64) {
        if self.peers.is_empty() {
            return;
        }
        let body = FedRequest::Relay {
            from: from.to_owned(),
            text: text.to_owned(),
            ts,
        };
        let body = serde_json::to_vec(&body).unwrap_or_default();
        for peer in &self.peers {
            if let Err(error) = Request::to(self.chat_on(peer)).body(body.clone()).send() {
                tracing::debug!(%peer, %error, "a chat message was not relayed");
            }
        }
    }

    /// Sends a whisper to `to` in the chat on `node` and keeps it until the answer comes;
    /// `Err(NoSuchPerson)` when `node` is not a node name, `Err(Offline)` when the whisper
    /// could not leave this node.
    pub fn whisper(
        &mut self,
        channel_id: u32,
        from: &str,
        (to, node): (&str, &str),
        text: &str,
        ts: u64,
    ) -> Result<(), Outcome> {
        let target =
            Address::try_new(node, self.our.process.clone()).map_err(|_| Outcome::NoSuchPerson)?;
        self.last_id += 1;
        let id = self.last_id;
        let body = FedRequest::Whisper {
            id,
            from: from.to_owned(),
            to: to.to_owned(),
            text: text.to_owned(),
            ts,
        };
        let request = Request::to(target)
            .body(serde_json::to_vec(&body).unwrap_or_default())
            .expects_response(WHISPER_TIMEOUT.as_secs());
        if let Err(error) = request.send() {
            tracing::debug!(%node, %error, "a whisper did not leave this node");
            return Err(Outcome::Offline);
        }
        let pending = Pending {
            channel_id,
            from: from.to_owned(),
            to: to.to_owned(),
            node: node.to_owned(),
            text: text.to_owned(),
            ts,
            deadline: Instant::now() + WHISPER_TIMEOUT,
        };
        self.pending.insert(id, pending);
        Ok(())
    }

    /// The whisper a peer's answer is about, and how it ended. `from` is the answering node.
    pub fn answered(&mut self, from: &str, body: &[u8]) -> Option<(Pending, Outcome)> {
        let answer = match serde_json::from_slice::<FedResponse>(body) {
            Ok(answer) => answer,
            Err(error) => {
                tracing::warn!(peer = %from, %error, "a malformed answer from a peer's chat; dropped");
                return None;
            }
        };
        let (id, outcome) = match answer {
            FedResponse::Delivered { id, to } => (id, Outcome::Delivered(to)),
            FedResponse::NoSuchPerson { id } => (id, Outcome::NoSuchPerson),
        };
        self.take(id, from).map(|pending| (pending, outcome))
    }

    /// The whisper a bounced request was, if it was one.
    pub fn bounced(&mut self, error: &RequestError) -> Option<(Pending, Outcome)> {
        let RequestError::Send(error) = error else {
            return None;
        };
        let Ok(FedRequest::Whisper { id, .. }) = serde_json::from_slice(&error.body) else {
            return None;
        };
        let outcome = match error.kind {
            SendErrorKind::Timeout => Outcome::Timeout,
            _ => Outcome::Offline,
        };
        self.take(id, &error.target.node)
            .map(|pending| (pending, outcome))
    }

    /// Takes whisper `id` if it went to `node` (a peer cannot end another's whisper).
    fn take(&mut self, id: u64, node: &str) -> Option<Pending> {
        match self.pending.get(&id) {
            Some(pending) if pending.node == node => self.pending.remove(&id),
            _ => None,
        }
    }

    /// When the next waiting whisper times out.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// Takes every whisper whose time is up.
    pub fn expired(&mut self) -> Vec<Pending> {
        let now = Instant::now();
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        ids.iter()
            .filter_map(|id| self.pending.remove(id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_is_plain_json() {
        let relay = FedRequest::Relay {
            from: "user1".into(),
            text: "hi".into(),
            ts: 5,
        };
        assert_eq!(
            serde_json::to_string(&relay).unwrap(),
            r#"{"Relay":{"from":"user1","text":"hi","ts":5}}"#
        );
        let answer = FedResponse::Delivered {
            id: 7,
            to: "user3".into(),
        };
        assert_eq!(
            serde_json::to_string(&answer).unwrap(),
            r#"{"Delivered":{"id":7,"to":"user3"}}"#
        );
        assert!(serde_json::from_str::<FedRequest>(r#"{"Relay":{"from":"x"}}"#).is_err());
        assert!(serde_json::from_str::<FedRequest>("garbage").is_err());
    }

    #[test]
    fn remote_names_split_at_the_last_at() {
        assert_eq!(split_remote("user3@bob.os"), Some(("user3", "bob.os")));
        assert_eq!(split_remote("user3"), None);
    }
}
