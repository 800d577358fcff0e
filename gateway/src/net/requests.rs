//! Requests local processes send `net:distro:sys`: for now, the list of peers and whether
//! each is linked. Requests from other nodes are refused (bounced as `Offline`, as if the
//! module did not exist for them).

use process_lib::{
    net_id, KernelMessage, NetRequest, NetResponse, PeerInfo, SendErrorKind, WireMessage,
};

use process_lib::host::Host;

use crate::runtime::Runtime;

/// Answers one request to the net module.
pub fn handle(rt: &Runtime, message: KernelMessage) {
    let WireMessage::Request {
        expects_response: Some(_),
        body,
    } = &message.message
    else {
        return;
    };
    if message.source.node != rt.node {
        tracing::warn!(source = %message.source, "a peer asked the net module; refused");
        super::link::bounce(rt, SendErrorKind::Offline, message);
        return;
    }
    let answer = match serde_json::from_slice::<NetRequest>(body) {
        Ok(NetRequest::Peers) => {
            let mut peers: Vec<PeerInfo> = rt
                .net
                .peers
                .iter()
                .map(|peer| {
                    let link = peer.link_id();
                    PeerInfo {
                        name: peer.name.clone(),
                        linked: link.is_some(),
                        trust_pushes: peer.trust_pushes,
                        link,
                    }
                })
                .collect();
            peers.sort_by(|a, b| a.name.cmp(&b.name));
            NetResponse::Peers(peers)
        }
        Err(error) => {
            tracing::debug!(source = %message.source, %error, "malformed request to net");
            super::link::bounce(rt, SendErrorKind::Offline, message);
            return;
        }
    };
    let reply = KernelMessage {
        id: message.id,
        source: rt.address(net_id()),
        target: message.rsvp.unwrap_or(message.source),
        rsvp: None,
        message: WireMessage::Response {
            body: serde_json::to_vec(&answer).unwrap_or_default(),
        },
        blob: None,
    };
    if let Err((kind, reply)) = rt.send(reply) {
        tracing::debug!(target = %reply.target, ?kind, "net answer not delivered");
    }
}
