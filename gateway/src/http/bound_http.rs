//! HTTP on bound paths: a request to `/<process_id><path>` that the process bound reaches it
//! as `HttpServerRequest::Http` with the body as the blob; the process answers with a
//! `Response` whose body is an `HttpResponse` and whose blob is the response body. No answer
//! within the node's timeout is a 504.
//!
//! Authenticated binds take the login cookie or `?token=`. A browser page load without one is
//! sent to `/login?next=…`; anything else gets 401. A request to an authenticated bind whose
//! `Origin` is another origin's is refused (403), so other sites cannot use the cookie;
//! unauthenticated binds are public and take any origin.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use process_lib::{
    http_server_id, HttpResponse, HttpServerRequest, IncomingHttpRequest, KernelMessage,
    LazyLoadBlob, ProcessId, WireMessage,
};
use warp::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use warp::{Filter, Rejection, Reply};

use super::bindings::{process_path, query_map, Kind};
use super::origin::{self, Verdict};
use super::problem::Problem;
use super::ConnInfo;
use crate::runtime::Runtime;
use process_lib::host::Host;

/// Everything about one request to a bound path.
struct Incoming {
    process: ProcessId,
    path: String,
    method: Method,
    full_path: String,
    query: HashMap<String, String>,
    raw_query: Option<String>,
    headers: HeaderMap,
    conn: Option<ConnInfo>,
}

/// Any method on `/<process_id><path>`.
pub fn route(
    rt: Arc<Runtime>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    process_path()
        .and(warp::path::full())
        .and(warp::method())
        .and(query_map())
        .and(
            warp::filters::query::raw()
                .map(Some)
                .or(warp::any().map(|| None))
                .unify(),
        )
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<ConnInfo>())
        .and(warp::body::stream())
        .and(warp::any().map(move || rt.clone()))
        .then(
            |(process, path),
             full: warp::filters::path::FullPath,
             method,
             query,
             raw_query,
             headers,
             conn,
             body,
             rt: Arc<Runtime>| async move {
                let incoming = Incoming {
                    process,
                    path,
                    method,
                    full_path: full.as_str().to_owned(),
                    query,
                    raw_query,
                    headers,
                    conn,
                };
                serve(rt, incoming, body)
                    .await
                    .unwrap_or_else(Reply::into_response)
            },
        )
}

async fn read_body<S, B>(body: S, limit: usize) -> Result<Bytes, Problem>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut collected = BytesMut::new();
    futures_util::pin_mut!(body);
    while let Some(chunk) = body.next().await {
        let mut chunk =
            chunk.map_err(|e| Problem::BadRequest(format!("the request body broke off: {e}")))?;
        if collected.len() + chunk.remaining() > limit {
            return Err(Problem::TooLarge(limit));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            collected.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(collected.freeze())
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// Checks the bind and its auth; `Ok(Some(reply))` is a redirect to the login page.
fn authorize(rt: &Runtime, incoming: &Incoming) -> Result<Option<warp::reply::Response>, Problem> {
    let bind = rt
        .bindings
        .lookup(Kind::Http, &incoming.process, &incoming.path)
        .ok_or_else(|| Problem::NotBound(incoming.full_path.clone()))?;
    if !bind.authenticated {
        return Ok(None);
    }
    let tls = incoming.conn.is_some_and(|c| c.tls);
    if let Verdict::Foreign(origin) =
        origin::check(&incoming.headers, tls, &rt.config.allowed_origins)
    {
        return Err(Problem::ForeignOrigin(origin));
    }
    let token = incoming
        .query
        .get("token")
        .cloned()
        .or_else(|| crate::auth::token_from_cookies(&incoming.headers, &rt.node))
        .unwrap_or_default();
    match rt.auth.verify(&token) {
        Ok(_) => Ok(None),
        Err(_) if incoming.method == Method::GET && wants_html(&incoming.headers) => {
            let mut next = incoming.full_path.clone();
            if let Some(q) = &incoming.raw_query {
                next.push('?');
                next.push_str(q);
            }
            let location = format!(
                "/login?{}",
                serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
            );
            let mut response = StatusCode::FOUND.into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            Ok(Some(response))
        }
        Err(e) => Err(Problem::Unauthorized(format!(
            "{e}: log in at /login, or pass ?token="
        ))),
    }
}

fn describe(incoming: &Incoming, tls: bool) -> IncomingHttpRequest {
    let host = incoming
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if tls { "https" } else { "http" };
    let mut url = format!("{scheme}://{host}{}", incoming.full_path);
    if let Some(q) = &incoming.raw_query {
        url.push('?');
        url.push_str(q);
    }
    IncomingHttpRequest {
        source_socket_addr: incoming.conn.map(|c| c.peer.to_string()),
        method: incoming.method.to_string(),
        url,
        bound_path: incoming.path.clone(),
        headers: incoming
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        query_params: incoming
            .query
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    }
}

async fn serve<S, B>(
    rt: Arc<Runtime>,
    incoming: Incoming,
    body: S,
) -> Result<warp::reply::Response, Problem>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    if let Some(redirect) = authorize(&rt, &incoming)? {
        return Ok(redirect);
    }
    let body = read_body(body, rt.config.max_message_size).await?;
    let tls = incoming.conn.is_some_and(|c| c.tls);
    let request = HttpServerRequest::Http(describe(&incoming, tls));
    let process = incoming.process;
    let mailbox = rt
        .processes
        .mailbox(&process)
        .ok_or_else(|| Problem::Unavailable(process.to_string()))?;
    let timeout = rt.config.http_response_timeout;
    let id = rt.next_id();
    let answer = rt.pending.await_answer(id, rt.address(process.clone()));
    // However this ends (answer, timeout, or the client leaving), the waiter is removed.
    let _waiting = Waiting { rt: &rt, id };
    let message = KernelMessage {
        id,
        source: rt.address(http_server_id()),
        target: rt.address(process.clone()),
        rsvp: None,
        message: WireMessage::Request {
            expects_response: Some(timeout.as_secs().max(1)),
            body: serde_json::to_vec(&request).unwrap_or_default(),
        },
        blob: Some(LazyLoadBlob::from_bytes(body)),
    };
    if mailbox.try_send(message).is_err() {
        return Err(Problem::Unavailable(process.to_string()));
    }
    let answer = match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => return Err(Problem::Unavailable(process.to_string())),
        Err(_) => return Err(Problem::GatewayTimeout(process.to_string(), timeout)),
    };
    respond(&process, answer)
}

/// Removes a request's waiter when the request is done with.
struct Waiting<'a> {
    rt: &'a Runtime,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.rt.pending.forget(self.id);
    }
}

/// The HTTP response a process's answer describes.
fn respond(process: &ProcessId, answer: KernelMessage) -> Result<warp::reply::Response, Problem> {
    let bad = || Problem::BadGateway(process.to_string());
    let WireMessage::Response { body } = &answer.message else {
        return Err(bad());
    };
    let described: HttpResponse = serde_json::from_slice(body).map_err(|_| bad())?;
    let status = StatusCode::from_u16(described.status).map_err(|_| bad())?;
    let blob = answer.blob.unwrap_or_default();
    let mut response = warp::reply::Response::new(blob.bytes.into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in &described.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    if !headers.contains_key(header::CONTENT_TYPE) {
        if let Some(Ok(mime)) = blob.mime.as_deref().map(HeaderValue::from_str) {
            headers.insert(header::CONTENT_TYPE, mime);
        }
    }
    Ok(response)
}
