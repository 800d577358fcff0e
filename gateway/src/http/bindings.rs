//! The bindings table: which paths under `/<process_id>` a process serves, as WebSocket
//! channels or as HTTP, and whether they need a token. (The HTTP requests in flight to
//! processes wait in [`super::pending`].)
//!
//! Paths compare without a trailing `/` (`/ws/` is `/ws`; the bare prefix is `/`), so
//! `/<process_id>` and `/<process_id>/` both reach a bind of `/`.

use std::collections::HashMap;

use parking_lot::RwLock;
use process_lib::{HttpServerError, ProcessId};
use warp::filters::path::FullPath;
use warp::{Filter, Rejection};

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

/// Every bound path on this node.
#[derive(Debug, Default)]
pub struct Bindings {
    ws: Table,
    http: Table,
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

/// Matches any request whose first path segment is a process id; yields the split path.
pub fn process_path() -> impl Filter<Extract = ((ProcessId, String),), Error = Rejection> + Clone {
    warp::path::full().and_then(|full: FullPath| async move {
        split(full.as_str()).ok_or_else(warp::reject::not_found)
    })
}

/// The query string as a map; an unparsable one is an empty map.
pub fn query_map(
) -> impl Filter<Extract = (HashMap<String, String>,), Error = std::convert::Infallible> + Clone {
    warp::query::<HashMap<String, String>>()
        .or(warp::any().map(HashMap::new))
        .unify()
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
