//! What the chat does with what the chat on a peer node sends: a relayed message to archive
//! and show, a whisper for one member (answered), an answer to a whisper sent from here, a
//! whisper that bounced or timed out. Input from a peer that is malformed or breaks the rules
//! is logged and dropped.

use process_lib::{RequestError, Response};

use super::archive::NewMessage;
use super::commands::{CommandError, MAX_TEXT_BYTES};
use super::commit::Author;
use super::events::Event;
use super::federation::{FedRequest, FedResponse, Outcome, Pending};
use super::{names, Chat};

impl Chat {
    /// A request from the chat on `node`: a message to archive and show, or a whisper for one
    /// member. Malformed input is logged and dropped.
    pub(super) async fn peer_request(&mut self, node: &str, body: &[u8]) {
        let request = match serde_json::from_slice::<FedRequest>(body) {
            Ok(request) => request,
            Err(error) => {
                tracing::warn!(peer = %node, %error, "a malformed request from a peer's chat; dropped");
                return;
            }
        };
        match request {
            FedRequest::Relay { from, text, ts } => {
                if !peer_input_ok(node, &from, &text) {
                    return;
                }
                // Stored with the messages that came with it, then shown.
                let message = NewMessage::remote(ts, &from, node, &text);
                self.accept(Author::Peer, message).await;
            }
            FedRequest::Whisper {
                id,
                from,
                to,
                text,
                ts,
            } => {
                if !peer_input_ok(node, &from, &text) {
                    return;
                }
                // After the messages before it have been shown. Settling awaits no message,
                // so the whisper is still the request a `Response` answers.
                self.settle().await;
                let answer = match self.roster.find(&to) {
                    Some(target) => {
                        let to = self.name_of(target);
                        let event = Event::Whisper {
                            from: format!("{from}@{node}"),
                            to: to.clone(),
                            text,
                            ts,
                        };
                        self.tell(target, &event);
                        FedResponse::Delivered { id, to }
                    }
                    None => FedResponse::NoSuchPerson { id },
                };
                let body = serde_json::to_vec(&answer).unwrap_or_default();
                if let Err(error) = Response::new().body(body).send() {
                    tracing::debug!(peer = %node, %error, "a whisper's answer was not sent");
                }
            }
        }
    }

    /// Tells the sender of a whisper to another node how it ended.
    pub(super) fn whisper_ended(&self, pending: Pending, outcome: Outcome) {
        let Pending {
            channel_id,
            from,
            to,
            node,
            text,
            ts,
            ..
        } = pending;
        let error = match outcome {
            Outcome::Delivered(to) => {
                let event = Event::Whisper {
                    from,
                    to: format!("{to}@{node}"),
                    text,
                    ts,
                };
                return self.tell(channel_id, &event);
            }
            Outcome::NoSuchPerson => CommandError::NoSuchPerson(format!("{to}@{node}")),
            Outcome::Offline => CommandError::PeerOffline(node),
            Outcome::Timeout => CommandError::PeerTimeout(node),
        };
        self.tell_error(channel_id, &error);
    }

    /// A request this chat sent came back undelivered.
    pub(super) fn bounced(&mut self, error: RequestError) {
        if let Some((pending, outcome)) = self.federation.bounced(&error) {
            self.whisper_ended(pending, outcome);
        }
    }

    pub(super) fn whispers_expired(&mut self) {
        for pending in self.federation.expired() {
            self.whisper_ended(pending, Outcome::Timeout);
        }
    }
}

/// Whether a name and text from a peer's chat follow the rules a local member's would.
fn peer_input_ok(node: &str, from: &str, text: &str) -> bool {
    let ok =
        names::validate(from).is_ok() && text.len() <= MAX_TEXT_BYTES && !text.trim().is_empty();
    if !ok {
        tracing::warn!(peer = %node, "a peer's chat sent a name or text that breaks the rules; dropped");
    }
    ok
}
