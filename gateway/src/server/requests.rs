//! Requests processes send to `http-server:distro:sys` (push, close, bind, unbind),
//! answered with `{"Ok":null}` / `{"Err":…}` when the sender waits for an answer; and the
//! responses to HTTP requests on bound paths, handed to their waiters. The runtime's router
//! brings them here; the answer goes back through it.

use process_lib::{
    http_server_id, HttpServerAction, HttpServerError, KernelMessage, LazyLoadBlob, WireMessage,
    WsMessageType,
};

use process_lib::host::Host;

use crate::http::bindings::Kind;
use crate::runtime::Runtime;

/// Handles one action. Actions are accepted from processes on this node, and pushes and
/// closes from processes on peers whose pushes are trusted. A response is the answer to an
/// HTTP request on a bound path, and goes to its waiter (only from this node).
pub fn handle(rt: &Runtime, message: KernelMessage) {
    let Some(message) = rt.pending.answer(message) else {
        return;
    };
    let WireMessage::Request {
        expects_response,
        body,
    } = &message.message
    else {
        return;
    };
    let result = perform(rt, &message, body);
    if let Err(error) = &result {
        tracing::debug!(source = %message.source, %error, "http-server action refused");
    }
    if expects_response.is_some() {
        let answer = KernelMessage {
            id: message.id,
            source: rt.address(http_server_id()),
            target: message
                .rsvp
                .clone()
                .unwrap_or_else(|| message.source.clone()),
            rsvp: None,
            message: WireMessage::Response {
                body: serde_json::to_vec(&result).unwrap_or_default(),
            },
            blob: None,
        };
        let _ = rt.send(answer);
    }
}

fn perform(rt: &Runtime, message: &KernelMessage, body: &[u8]) -> Result<(), HttpServerError> {
    // A peer's process may push to our channels bound to the same process id, when our
    // config trusts that peer's pushes; the channel table checks the binding.
    let remote = message.source.node != rt.node;
    if remote && !rt.net.trusts_pushes(&message.source.node) {
        return Err(HttpServerError::InvalidSourceProcess);
    }
    let source = &message.source.process;
    let action: HttpServerAction =
        serde_json::from_slice(body).map_err(|_| HttpServerError::MalformedRequest)?;
    if remote
        && !matches!(
            action,
            HttpServerAction::WebSocketPush { .. } | HttpServerAction::WebSocketClose(_)
        )
    {
        return Err(HttpServerError::InvalidSourceProcess);
    }
    match action {
        HttpServerAction::WebSocketPush {
            channel_id,
            message_type,
        } => {
            let blob = message.blob.clone().ok_or(HttpServerError::NoBlob)?;
            rt.push_to_channel(source, channel_id, message_type, blob)
        }
        HttpServerAction::WebSocketClose(channel_id) => rt.push_to_channel(
            source,
            channel_id,
            WsMessageType::Close,
            LazyLoadBlob::default(),
        ),
        HttpServerAction::Bind {
            path,
            authenticated,
        } => rt.bindings.bind(Kind::Http, source, &path, authenticated),
        HttpServerAction::Unbind { path } => rt.bindings.unbind(Kind::Http, source, &path),
        HttpServerAction::WebSocketBind {
            path,
            authenticated,
        } => rt
            .bindings
            .bind(Kind::WebSocket, source, &path, authenticated),
        HttpServerAction::WebSocketUnbind { path } => {
            rt.bindings.unbind(Kind::WebSocket, source, &path)
        }
    }
}

#[cfg(test)]
mod tests {
    use process_lib::ProcessId;

    use super::*;
    use crate::http::bindings::Bind;

    #[test]
    fn only_processes_on_this_node_may_bind() {
        use process_lib::{Address, HttpServerAction, WireMessage};
        let home = tempfile::tempdir().unwrap();
        let config = crate::config::Config::new(home.path());
        let rt = crate::runtime::Runtime::new(config, crate::auth::Auth::new("local.os", &[1; 32]));
        let chat: ProcessId = "chat:chat:sys".parse().unwrap();
        let bind = |node: &str| process_lib::KernelMessage {
            id: 1,
            source: Address::new(node, chat.clone()),
            target: rt.address(process_lib::http_server_id()),
            rsvp: None,
            message: WireMessage::Request {
                expects_response: None,
                body: serde_json::to_vec(&HttpServerAction::WebSocketBind {
                    path: "/ws".into(),
                    authenticated: false,
                })
                .unwrap(),
            },
            blob: None,
        };
        handle(&rt, bind("bob.os"));
        assert_eq!(rt.bindings.lookup(Kind::WebSocket, &chat, "/ws"), None);
        handle(&rt, bind("local.os"));
        assert_eq!(
            rt.bindings.lookup(Kind::WebSocket, &chat, "/ws"),
            Some(Bind {
                authenticated: false
            })
        );
    }
}
