//! What a process can ask `net:distro:sys`, the module that links this node to its peers,
//! and the answers (JSON bodies). A federating process asks for the peers once at start
//! (and again when it likes), then talks to its counterparts on them with [`crate::Request`].

use serde::{Deserialize, Serialize};

use crate::api::{Request, RequestError};
use crate::message::Message;

/// A request to `net:distro:sys` on this node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetRequest {
    /// The configured peers, and whether each is linked now.
    Peers,
}

/// The answer to a [`NetRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetResponse {
    /// Every configured peer.
    Peers(Vec<PeerInfo>),
}

/// One configured peer node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Its node name.
    pub name: String,
    /// Whether a link to it is up now.
    pub linked: bool,
    /// Whether this node accepts pushes from its processes.
    pub trust_pushes: bool,
    /// The live link's number on this node, when a link is up. Every link that comes up
    /// gets a new number, so a number that changed between two looks means the link went
    /// down and up again in between, and what was sent to the peer meanwhile may be lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<u64>,
}

/// Asks this node's `net:distro:sys` for its peers, waiting up to `timeout_secs`.
pub async fn peers(timeout_secs: u64) -> Result<Vec<PeerInfo>, RequestError> {
    let target = crate::Address {
        node: crate::our().node,
        process: crate::net_id(),
    };
    let body = serde_json::to_vec(&NetRequest::Peers).unwrap_or_default();
    let answer = Request::to(target)
        .body(body)
        .send_and_await_response(timeout_secs)
        .await?;
    let parsed = match &answer {
        Message::Response { body, .. } => serde_json::from_slice::<NetResponse>(body).ok(),
        Message::Request { .. } => None,
    };
    Ok(match parsed {
        Some(NetResponse::Peers(peers)) => peers,
        None => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_plain_json() {
        assert_eq!(
            serde_json::to_string(&NetRequest::Peers).unwrap(),
            r#""Peers""#
        );
        let answer = NetResponse::Peers(vec![PeerInfo {
            name: "bob.os".into(),
            linked: true,
            trust_pushes: false,
            link: Some(3),
        }]);
        assert_eq!(
            serde_json::to_string(&answer).unwrap(),
            r#"{"Peers":[{"name":"bob.os","linked":true,"trust_pushes":false,"link":3}]}"#
        );
        // An answer without link numbers (a node from before they existed) still reads.
        let old: NetResponse = serde_json::from_str(
            r#"{"Peers":[{"name":"bob.os","linked":false,"trust_pushes":false}]}"#,
        )
        .unwrap();
        assert!(matches!(old, NetResponse::Peers(p) if p[0].link.is_none()));
    }
}
