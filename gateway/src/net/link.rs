//! Links: accepting and dialing connections, and starting the two tasks of a live link
//! ([`super::transport`]).
//!
//! The writer task drains the link's bounded queue, packing every message waiting into one
//! batch of records, sealing it into transport frames and writing it with one call; when the
//! link is quiet it sends a keepalive. The reader task opens frames, reassembles records and
//! hands each message to local routing, refusing any whose source is not the link's peer.
//! Any protocol violation (oversized frame or record, failed decryption, garbage record)
//! drops that link only. When a link ends, requests still queued on it are bounced to their
//! senders as `Offline`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use process_lib::host::Host;
use process_lib::{KernelMessage, SendErrorKind, WireMessage};
use rand::Rng;
use tokio::net::{TcpListener, TcpStream};

use super::admission::{Admission, FIRST_MESSAGE_WAIT};
use super::handshake::{self, HandshakeError, Session};
use super::identity::Identity;
use super::peers::{LinkHandle, Peer};
use super::queue::link_queue;
use super::stats::NetStats;
use super::transport::{Link, LinkReader, LinkWriter};
use crate::runtime::Runtime;

/// A link up this long resets the redial backoff.
const STABLE_LINK: Duration = Duration::from_secs(10);

/// Accepts peers' dials until the node shuts down.
pub(super) async fn accept_loop(rt: Arc<Runtime>, identity: Arc<Identity>, listener: TcpListener) {
    let admission = Admission::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = rt.shutdown.cancelled() => break,
        };
        let (mut stream, addr) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%error, "net accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match admission.admit(addr.ip(), &rt.net.peers) {
            Ok(slot) => slot,
            Err(refusal) => {
                tracing::debug!(%addr, %refusal, "connection dropped before its handshake");
                continue;
            }
        };
        let rt2 = rt.clone();
        let identity = identity.clone();
        rt.tasks.spawn(async move {
            let _slot = slot;
            let _ = stream.set_nodelay(true);
            let net = &rt2.net;
            let key_of = |name: &str| net.peers.get(name).map(|p| p.key);
            let handshake = handshake::respond(
                &mut stream,
                &identity,
                &rt2.node,
                FIRST_MESSAGE_WAIT,
                key_of,
            );
            let outcome = tokio::select! {
                outcome = tokio::time::timeout(net.config.handshake_timeout, handshake) => outcome,
                () = rt2.shutdown.cancelled() => return,
            };
            match outcome {
                Ok(Ok(session)) => {
                    start_link(&rt2, stream, session, false);
                }
                Ok(Err(HandshakeError::Silent(_))) => {
                    NetStats::bump(&net.stats.handshakes_failed);
                    tracing::debug!(%addr, "no handshake from a new connection; dropped");
                }
                Ok(Err(error)) => refused(&rt2, &addr.to_string(), &error),
                Err(_) => {
                    NetStats::bump(&net.stats.handshakes_failed);
                    tracing::warn!(%addr, "inbound handshake timed out");
                }
            }
        });
    }
}

fn refused(rt: &Runtime, addr: &str, error: &HandshakeError) {
    NetStats::bump(&rt.net.stats.handshakes_failed);
    match error {
        HandshakeError::WrongKey { peer, presented } => {
            tracing::warn!(%addr, peer, %presented, "link refused: the peer did not prove its configured key")
        }
        other => tracing::warn!(%addr, error = %other, "link refused"),
    }
}

/// Keeps a link to `peer` up by dialing its address whenever no link is up, with jittered
/// exponential backoff between failed attempts.
pub(super) async fn dial_loop(rt: Arc<Runtime>, identity: Arc<Identity>, peer: Arc<Peer>) {
    let config = &rt.net.config;
    let mut up = peer.watch_up();
    let mut address = peer.watch_address();
    let mut backoff = config.redial_min;
    let mut failures = 0u32;
    loop {
        tokio::select! {
            down = up.wait_for(|up| !*up) => if down.is_err() { return },
            () = rt.shutdown.cancelled() => return,
        }
        let Some(addr) = address.borrow_and_update().clone() else {
            tokio::select! {
                changed = address.changed() => if changed.is_err() { return },
                () = rt.shutdown.cancelled() => return,
            }
            continue;
        };
        let attempt = tokio::select! {
            attempt = tokio::time::timeout(config.handshake_timeout, dial(&rt, &identity, &peer, &addr)) => attempt,
            () = rt.shutdown.cancelled() => return,
        };
        match attempt {
            Ok(Ok((stream, session))) => {
                let started = tokio::time::Instant::now();
                failures = 0;
                if start_link(&rt, stream, session, true) {
                    tokio::select! {
                        down = up.wait_for(|up| !*up) => if down.is_err() { return },
                        () = rt.shutdown.cancelled() => return,
                    }
                }
                // A link that dies at once (e.g. the peer refused our key after the
                // handshake) must not turn into a tight redial loop.
                if started.elapsed() >= STABLE_LINK {
                    backoff = config.redial_min;
                }
            }
            Ok(Err(DialError::Connect(error))) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(peer = %peer.name, %addr, %error, "cannot reach peer; retrying with backoff");
                } else {
                    tracing::debug!(peer = %peer.name, %addr, %error, ?backoff, failures, "dial failed");
                }
            }
            Ok(Err(DialError::Handshake(error))) => refused(&rt, &addr, &error),
            Err(_) => {
                NetStats::bump(&rt.net.stats.handshakes_failed);
                tracing::warn!(peer = %peer.name, %addr, "dial timed out");
            }
        }
        let wait = jitter(backoff);
        backoff = (backoff * 2).min(config.redial_max);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = address.changed() => if changed.is_err() { return },
            () = rt.shutdown.cancelled() => return,
        }
    }
}

/// Half the backoff, plus a random part of the other half.
fn jitter(backoff: Duration) -> Duration {
    let half = backoff / 2;
    half + half.mul_f64(rand::thread_rng().gen::<f64>())
}

#[derive(Debug, thiserror::Error)]
enum DialError {
    #[error("connect: {0}")]
    Connect(#[from] std::io::Error),
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
}

async fn dial(
    rt: &Runtime,
    identity: &Identity,
    peer: &Peer,
    addr: &str,
) -> Result<(TcpStream, Session), DialError> {
    let mut stream = TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    let session =
        handshake::initiate(&mut stream, identity, &rt.node, &peer.name, peer.key).await?;
    Ok((stream, session))
}

/// Registers an authenticated link and starts its tasks. Returns false when a live link to
/// the same peer wins the tie-break (the new connection is then closed).
fn start_link(rt: &Arc<Runtime>, stream: TcpStream, session: Session, dialed_by_us: bool) -> bool {
    let net = &rt.net;
    let Some(peer) = net.peers.get(&session.peer).cloned() else {
        return false;
    };
    let (queue, rx) = link_queue(net.config.queue_capacity, net.config.queue_bytes);
    let cancel = rt.shutdown.child_token();
    let id = net.next_link_id.fetch_add(1, Ordering::Relaxed);
    let dialer = if dialed_by_us {
        rt.node.to_string()
    } else {
        peer.name.clone()
    };
    let preferred = std::cmp::min(rt.node.as_str(), peer.name.as_str()).to_owned();
    let handle = LinkHandle {
        id,
        dialer: dialer.clone(),
        queue,
        cancel: cancel.clone(),
    };
    if !peer.register(handle, &preferred) {
        tracing::debug!(peer = %peer.name, %dialer, "a link is already up; the new one is closed");
        return false;
    }
    NetStats::bump(&net.stats.links_up);
    tracing::info!(peer = %peer.name, %dialer, link = id, "link up");
    let (read, write) = stream.into_split();
    let link = Link {
        rt: rt.clone(),
        peer,
        id,
        cancel,
    };
    let writer = LinkWriter::new(link.clone(), write, session.sealer, rx);
    rt.tasks.spawn(writer.run());
    rt.tasks
        .spawn(LinkReader::new(link, read, session.opener, session.read_ahead).run());
    true
}

/// Sends an undelivered request back to whoever waits for its answer. Anything else that
/// cannot be delivered is dropped (it has been counted and logged).
pub(super) fn bounce(rt: &Runtime, kind: SendErrorKind, message: KernelMessage) {
    let KernelMessage {
        id,
        source,
        target,
        rsvp,
        message,
        blob,
    } = message;
    let WireMessage::Request {
        expects_response: Some(_),
        body,
    } = message
    else {
        return;
    };
    let answer = KernelMessage {
        id,
        source: target,
        target: rsvp.unwrap_or(source),
        rsvp: None,
        message: WireMessage::Bounce { kind, body },
        blob,
    };
    if let Err((kind, answer)) = rt.send(answer) {
        tracing::debug!(target = %answer.target, ?kind, "bounce not delivered");
    }
}
