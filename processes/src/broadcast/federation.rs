//! The broadcasts on linked nodes as one audience: each tells the others which of its own
//! channels subscribe, and a frame published on one node is pushed straight to the
//! subscribers' channels on every linked node (a node-to-node push, which the other node
//! accepts only from a peer it trusts with pushes).
//!
//! The wire, JSON request bodies between `broadcast:broadcast:sys` on two nodes, no answers:
//! - `{"Hello":[1,2,3]}`: "these are all my subscribers; tell me yours". Sent to a peer when
//!   its link is seen up.
//! - `{"Subscribers":[1,2,3]}`: all of the sender's subscribers, the answer to a `Hello`.
//! - `{"Subscribed":4}`, `{"Unsubscribed":4}`: one change since.
//!
//! A whole list replaces what was known of that node, so a node that restarted or a link
//! that came back starts from the truth. Links are looked at every [`PEERS_EVERY`].

use std::collections::BTreeMap;
use std::time::Duration;

use process_lib::{send_ws_push_many, Address, LazyLoadBlob, ProcessId, Request, WsMessageType};
use serde::{Deserialize, Serialize};

/// How often the list of linked peers is read again.
pub const PEERS_EVERY: Duration = Duration::from_secs(1);
/// How long reading that list may take.
const PEERS_TIMEOUT_SECS: u64 = 5;

/// What one broadcast tells another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerNote {
    /// All of the sender's subscribers; answer with [`PeerNote::Subscribers`].
    Hello(Vec<u32>),
    /// All of the sender's subscribers.
    Subscribers(Vec<u32>),
    /// A channel on the sender that subscribed.
    Subscribed(u32),
    /// A channel on the sender that is gone.
    Unsubscribed(u32),
}

/// Channel ids, sorted, without repeats: what can be handed to a push at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelSet(Vec<u32>);

impl ChannelSet {
    /// Adds `id`; false when it was there.
    pub fn insert(&mut self, id: u32) -> bool {
        match self.0.binary_search(&id) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, id);
                true
            }
        }
    }

    /// Removes `id`; false when it was not there.
    pub fn remove(&mut self, id: u32) -> bool {
        match self.0.binary_search(&id) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// A set of `ids`, in any order, repeats dropped.
    pub fn from_ids(mut ids: Vec<u32>) -> Self {
        ids.sort_unstable();
        ids.dedup();
        Self(ids)
    }

    /// The ids, ascending.
    pub fn ids(&self) -> &[u32] {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A peer seen linked, and the number of its link when known.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Linked {
    node: String,
    link: Option<u64>,
}

/// The peers in `now` to greet with a `Hello`: those not linked at the last look, and those
/// whose link has a new number, since it went down and up again in between and a note
/// sent meanwhile may be lost (the whole list puts that right). A peer first counted
/// linked because it spoke to us has no known number; its number is taken as it is.
fn to_greet<'a>(before: &[Linked], now: &'a [Linked]) -> Vec<&'a str> {
    now.iter()
        .filter(
            |peer| match before.iter().find(|known| known.node == peer.node) {
                None => true,
                Some(known) => known.link.is_some() && known.link != peer.link,
            },
        )
        .map(|peer| peer.node.as_str())
        .collect()
}

/// What this broadcast knows of the broadcasts on its peers.
#[derive(Debug)]
pub struct Federation {
    our: Address,
    /// Peers whose links were up at the last look (or that spoke to us since), with the
    /// link's number when it is known.
    linked: Vec<Linked>,
    /// Each linked peer's subscribers.
    remote: BTreeMap<String, ChannelSet>,
}

impl Federation {
    /// The federation of the broadcast at `our`, before it has looked at its peers.
    pub fn new(our: Address) -> Self {
        Self {
            our,
            linked: Vec::new(),
            remote: BTreeMap::new(),
        }
    }

    /// The process id of the broadcast, the same on every node.
    pub fn process(&self) -> &ProcessId {
        &self.our.process
    }

    fn tell(&self, node: &str, note: &PeerNote) {
        let target = Address {
            node: node.into(),
            process: self.our.process.clone(),
        };
        let body = serde_json::to_vec(note).unwrap_or_default();
        if let Err(error) = Request::to(target).body(body).send() {
            tracing::debug!(peer = %node, %error, "a note to a peer's broadcast was not sent");
        }
    }

    /// Reads which peers are linked now: a peer newly up gets a `Hello` with `local`; what
    /// was known of a peer now down is forgotten.
    pub async fn refresh(&mut self, local: &ChannelSet) {
        let peers = match process_lib::net::peers(PEERS_TIMEOUT_SECS).await {
            Ok(peers) => peers,
            Err(error) => {
                tracing::warn!(%error, "the broadcast cannot list this node's peers");
                return;
            }
        };
        let now: Vec<Linked> = peers
            .into_iter()
            .filter(|peer| peer.linked)
            .map(|peer| Linked {
                node: peer.name,
                link: peer.link,
            })
            .collect();
        for node in to_greet(&self.linked, &now) {
            self.tell(node, &PeerNote::Hello(local.ids().to_vec()));
        }
        self.remote
            .retain(|node, _| now.iter().any(|peer| peer.node == *node));
        self.linked = now;
    }

    /// Tells every linked peer about a change to `local`.
    pub fn announce(&self, note: &PeerNote) {
        for peer in &self.linked {
            self.tell(&peer.node, note);
        }
    }

    /// What the broadcast on `node` told us; malformed notes are logged and dropped.
    pub fn heard(&mut self, node: &str, body: &[u8], local: &ChannelSet) {
        let note = match serde_json::from_slice::<PeerNote>(body) {
            Ok(note) => note,
            Err(error) => {
                tracing::warn!(peer = %node, %error, "a malformed note from a peer's broadcast; dropped");
                return;
            }
        };
        // It spoke over a link, so the link is up: count it linked from now on, and let the
        // next look at the peers not greet it a second time.
        if !self.linked.iter().any(|peer| peer.node == node) {
            self.linked.push(Linked {
                node: node.to_owned(),
                link: None,
            });
        }
        if let PeerNote::Hello(_) = note {
            self.tell(node, &PeerNote::Subscribers(local.ids().to_vec()));
        }
        let known = self.remote.entry(node.to_owned()).or_default();
        match note {
            PeerNote::Hello(ids) | PeerNote::Subscribers(ids) => {
                *known = ChannelSet::from_ids(ids);
            }
            PeerNote::Subscribed(id) => {
                known.insert(id);
            }
            PeerNote::Unsubscribed(id) => {
                known.remove(id);
            }
        }
    }

    /// Pushes a frame to every subscriber on every linked peer. A push that cannot leave
    /// this node (the link is down or its queue is full) is dropped and counted in the log.
    pub fn publish(&self, message_type: WsMessageType, blob: &LazyLoadBlob) {
        for (node, ids) in &self.remote {
            if ids.is_empty() {
                continue;
            }
            let failed = send_ws_push_many(node, ids.ids(), message_type, blob.clone());
            if !failed.is_empty() {
                tracing::debug!(peer = %node, dropped = failed.len(), "pushes to a peer's subscribers could not leave this node");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_set_stays_sorted_and_free_of_repeats() {
        let mut set = ChannelSet::from_ids(vec![9, 3, 3, 7]);
        assert_eq!(set.ids(), &[3, 7, 9]);
        assert!(set.insert(5));
        assert!(!set.insert(7));
        assert!(set.remove(3));
        assert!(!set.remove(4));
        assert_eq!(set.ids(), &[5, 7, 9]);
    }

    fn linked(node: &str, link: Option<u64>) -> Linked {
        Linked {
            node: node.into(),
            link,
        }
    }

    #[test]
    fn a_peer_is_greeted_when_newly_linked_or_relinked() {
        let before = [
            linked("bob.os", Some(1)),
            linked("carol.os", Some(4)),
            linked("dave.os", None),
        ];
        let now = [
            // The same link as before: nothing to say.
            linked("bob.os", Some(1)),
            // Down and up again between two looks: greeted, since notes may be lost.
            linked("carol.os", Some(6)),
            // Counted linked because it spoke to us: its number is taken as it is.
            linked("dave.os", Some(2)),
            // Not linked at the last look.
            linked("erin.os", Some(3)),
        ];
        assert_eq!(to_greet(&before, &now), ["carol.os", "erin.os"]);
        assert!(to_greet(&now, &now).is_empty());
    }

    #[test]
    fn notes_read_as_documented() {
        let hello: PeerNote = serde_json::from_str(r#"{"Hello":[1,2,3]}"#).unwrap();
        assert_eq!(hello, PeerNote::Hello(vec![1, 2, 3]));
        assert_eq!(
            serde_json::to_string(&PeerNote::Unsubscribed(4)).unwrap(),
            r#"{"Unsubscribed":4}"#
        );
    }
}
