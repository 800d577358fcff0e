//! The bindings table: which paths under `/<process_id>` a process serves, as WebSocket
//! channels or as HTTP, and whether they need a token. Also the HTTP requests in flight to
//! processes, waiting for their `Response`.
//!
//! Paths compare without a trailing `/` (`/ws/` is `/ws`; the bare prefix is `/`), so
//! `/<process_id>` and `/<process_id>/` both reach a bind of `/`.

use std::collections::HashMap;

use parking_lot::{Mutex, RwLock};
use process_lib::{Address, HttpServerError, KernelMessage, ProcessId, WireMessage};
use tokio::sync::oneshot;

/// Longest path a process may bind.
const MAX_PATH: usize = 256;

/// One bound path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bind {
    /// Whether clients need the login cookie or a token.
    pub authenticated: bool,
}

/// WebSocket or HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Channels without a register frame.
    WebSocket,
    /// Requests answered by the process.
    Http,
}

type Table = RwLock<HashMap<(ProcessId, String), Bind>>;

/// Every bound path on this node, and the HTTP requests waiting for an answer.
#[derive(Debug, Default)]
pub struct Bindings {
    ws: Table,
    http: Table,
    pending: Mutex<HashMap<u64, Waiter>>,
}

/// A bound path in its compared form, or `MalformedRequest` when it cannot be one.
pub fn normalize(path: &str) -> Result<String, HttpServerError> {
    let valid = path.starts_with('/')
        && path.len() <= MAX_PATH
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#');
    if !valid {
        return Err(HttpServerError::MalformedRequest);
    }
    let trimmed = path.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    })
}

/// Splits a request path `/<process_id><rest>` into the process and the compared rest.
pub fn split(full: &str) -> Option<(ProcessId, String)> {
    let rest = full.strip_prefix('/')?;
    let (first, tail) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let process = first.parse().ok()?;
    Some((process, normalize(tail).ok()?))
}

impl Bindings {
    fn table(&self, kind: Kind) -> &Table {
        match kind {
            Kind::WebSocket => &self.ws,
            Kind::Http => &self.http,
        }
    }

    /// Binds `path` for `process` (binding again replaces the setting).
    pub fn bind(
        &self,
        kind: Kind,
        process: &ProcessId,
        path: &str,
        authenticated: bool,
    ) -> Result<(), HttpServerError> {
        let path = normalize(path)?;
        self.table(kind)
            .write()
            .insert((process.clone(), path), Bind { authenticated });
        Ok(())
    }

    /// Unbinds `path` for `process`; unbinding what is not bound is not an error.
    pub fn unbind(
        &self,
        kind: Kind,
        process: &ProcessId,
        path: &str,
    ) -> Result<(), HttpServerError> {
        let path = normalize(path)?;
        self.table(kind).write().remove(&(process.clone(), path));
        Ok(())
    }

    /// The bind at `path` (already normalised) of `process`.
    pub fn lookup(&self, kind: Kind, process: &ProcessId, path: &str) -> Option<Bind> {
        self.table(kind)
            .read()
            .get(&(process.clone(), path.to_owned()))
            .copied()
    }

    /// Registers HTTP request `id`, sent to `from`, in flight; its answer arrives on the
    /// receiver. Only a `Response` from exactly `from` counts as the answer.
    pub fn await_answer(&self, id: u64, from: Address) -> oneshot::Receiver<KernelMessage> {
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(id, Waiter { from, tx });
        rx
    }

    /// Forgets a request that timed out.
    pub fn forget(&self, id: u64) {
        self.pending.lock().remove(&id);
    }

    /// Hands `message` to the request waiting for it; gives it back when none waits.
    /// A request, a message from another node, or a response from any process but the one
    /// asked is never taken as an answer: a peer cannot answer our HTTP requests by guessing
    /// an id.
    pub fn answer(&self, message: KernelMessage) -> Option<KernelMessage> {
        if !matches!(message.message, WireMessage::Response { .. }) {
            return Some(message);
        }
        let mut pending = self.pending.lock();
        match pending.get(&message.id) {
            Some(waiter) if waiter.from == message.source => {
                if let Some(waiter) = pending.remove(&message.id) {
                    let _ = waiter.tx.send(message);
                }
                None
            }
            _ => Some(message),
        }
    }
}

/// An HTTP request in flight: who must answer it, and where the answer goes.
#[derive(Debug)]
struct Waiter {
    from: Address,
    tx: oneshot::Sender<KernelMessage>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(id: u64, source: &str) -> KernelMessage {
        KernelMessage {
            id,
            source: source.parse().unwrap(),
            target: "local.os@http-server:distro:sys".parse().unwrap(),
            rsvp: None,
            message: WireMessage::Response {
                body: b"{}".to_vec(),
            },
            blob: None,
        }
    }

    #[test]
    fn only_the_asked_process_on_this_node_answers() {
        let bindings = Bindings::default();
        let mut rx = bindings.await_answer(7, "local.os@app:app:sys".parse().unwrap());
        // A peer node's process with the same id, or another local process: not the answer.
        assert!(bindings.answer(response(7, "bob.os@app:app:sys")).is_some());
        assert!(bindings
            .answer(response(7, "local.os@other:app:sys"))
            .is_some());
        assert!(rx.try_recv().is_err());
        // A request with the id is not an answer either.
        let mut request = response(7, "local.os@app:app:sys");
        request.message = WireMessage::Request {
            expects_response: None,
            body: vec![],
        };
        assert!(bindings.answer(request).is_some());
        // The asked process's response is.
        assert!(bindings
            .answer(response(7, "local.os@app:app:sys"))
            .is_none());
        assert_eq!(
            rx.try_recv().unwrap().source.to_string(),
            "local.os@app:app:sys"
        );
    }

    #[test]
    fn paths_compare_without_trailing_slashes() {
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize("/ws/").unwrap(), "/ws");
        assert!(normalize("ws").is_err());
        assert!(normalize("/a b").is_err());
        assert!(normalize("/a?b").is_err());
        let (process, path) = split("/chat:chat:sys/ws/").unwrap();
        assert_eq!(process.to_string(), "chat:chat:sys");
        assert_eq!(path, "/ws");
        assert_eq!(split("/chat:chat:sys").unwrap().1, "/");
        assert_eq!(split("/chat:chat:sys/").unwrap().1, "/");
        assert!(split("/login").is_none());
    }

    #[test]
    fn binds_belong_to_their_process() {
        let table = Bindings::default();
        let chat: ProcessId = "chat:chat:sys".parse().unwrap();
        let other: ProcessId = "other:chat:sys".parse().unwrap();
        table.bind(Kind::WebSocket, &chat, "/ws/", true).unwrap();
        assert_eq!(
            table.lookup(Kind::WebSocket, &chat, "/ws"),
            Some(Bind {
                authenticated: true
            })
        );
        assert_eq!(table.lookup(Kind::WebSocket, &other, "/ws"), None);
        assert_eq!(table.lookup(Kind::Http, &chat, "/ws"), None);
        table.unbind(Kind::WebSocket, &chat, "/ws").unwrap();
        assert_eq!(table.lookup(Kind::WebSocket, &chat, "/ws"), None);
    }

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
        crate::http::actions::handle(&rt, bind("bob.os"));
        assert_eq!(rt.bindings.lookup(Kind::WebSocket, &chat, "/ws"), None);
        crate::http::actions::handle(&rt, bind("local.os"));
        assert_eq!(
            rt.bindings.lookup(Kind::WebSocket, &chat, "/ws"),
            Some(Bind {
                authenticated: false
            })
        );
    }
}
