//! Processes that bind paths, for the bound-path, origin, TLS and browser tests. Each is
//! written only against `process_lib`, and reports on `ready` once its binds are answered.

use std::collections::BTreeMap;

use gateway::ProcessSpec;
use process_lib::{
    await_message, bind_http_path, bind_ws_path, close_ws_channel, get_blob, send_ws_push,
    unbind_ws_path, Address, HttpResponse, HttpServerRequest, LazyLoadBlob, Message, Response,
    WsMessageType,
};
use tokio::sync::mpsc;

fn id(s: &str) -> process_lib::ProcessId {
    s.parse().expect("valid process id")
}

fn push_text(our: &Address, channel_id: u32, text: String) {
    let _ = send_ws_push(
        &our.node,
        channel_id,
        WsMessageType::Text,
        LazyLoadBlob::from_bytes(text),
    );
}

fn answer_http(status: u16, content_type: &str, body: impl Into<bytes::Bytes>) {
    let response = HttpResponse {
        status,
        headers: BTreeMap::from([("content-type".to_owned(), content_type.to_owned())]),
    };
    let _ = Response::new()
        .body(serde_json::to_vec(&response).unwrap_or_default())
        .blob(LazyLoadBlob::from_bytes(body))
        .send();
}

/// `binder:test:sys`. Binds WebSocket `/ws` (authenticated) and `/open` (not), HTTP `/api`
/// (authenticated), `/public` (not) and `/slow` (never answered), then reports `Ok(())` on
/// `ready` — or the first bind error, and also what a bind of the bad path `nope` answered.
///
/// On a channel it first pushes `{"opened":<path>,"channel_id":N}`; then a push `unbind`
/// unbinds `/ws` and answers `unbound`; `close` closes the channel; anything else comes back
/// as `echo:<text>`. HTTP requests are answered with JSON describing them.
pub fn binder(ready: mpsc::UnboundedSender<Result<String, String>>) -> ProcessSpec {
    ProcessSpec::new(id("binder:test:sys"), move |our: Address| {
        let ready = ready.clone();
        async move {
            let binds = async {
                bind_ws_path("/ws", true).await?;
                bind_ws_path("/open", false).await?;
                bind_http_path("/api", true).await?;
                bind_http_path("/public", false).await?;
                bind_http_path("/slow", false).await?;
                Ok::<_, process_lib::BindError>(())
            };
            let bad = bind_ws_path("nope", true).await;
            let _ = ready.send(
                binds
                    .await
                    .map(|()| format!("{bad:?}"))
                    .map_err(|e| e.to_string()),
            );
            loop {
                let Ok(message) = await_message().await else {
                    continue;
                };
                let Ok(request) = HttpServerRequest::from_json(message.body()) else {
                    continue;
                };
                match request {
                    HttpServerRequest::WebSocketOpen { path, channel_id } => {
                        let hello = serde_json::json!({ "opened": path, "channel_id": channel_id });
                        push_text(&our, channel_id, hello.to_string());
                    }
                    HttpServerRequest::WebSocketPush { channel_id, .. } => {
                        let blob = get_blob().unwrap_or_default();
                        let text = String::from_utf8_lossy(&blob.bytes).into_owned();
                        match text.as_str() {
                            "unbind" => {
                                let result = unbind_ws_path("/ws").await;
                                push_text(&our, channel_id, format!("unbound {}", result.is_ok()));
                            }
                            "close" => {
                                let _ = close_ws_channel(channel_id);
                            }
                            _ => push_text(&our, channel_id, format!("echo:{text}")),
                        }
                    }
                    HttpServerRequest::WebSocketClose(_) => {}
                    HttpServerRequest::Http(incoming) => {
                        if incoming.bound_path == "/slow" {
                            continue;
                        }
                        let Message::Request { blob, .. } = &message else {
                            continue;
                        };
                        let body = blob.as_ref().map(|b| b.bytes.to_vec()).unwrap_or_default();
                        let described = serde_json::json!({
                            "method": incoming.method,
                            "bound_path": incoming.bound_path,
                            "url": incoming.url,
                            "query": incoming.query_params,
                            "body": String::from_utf8_lossy(&body),
                        });
                        answer_http(201, "application/json", described.to_string());
                    }
                }
            }
        }
    })
}

/// `webapp:test:sys`: a small web app for the browser test. Serves `page` at `/` and
/// `library` (the `@kinode/client-api` module) at `/client-api.js`, both authenticated, and
/// binds an authenticated WebSocket at `/` — where `@kinode/client-api` connects by default.
/// On a channel it first pushes `{"hello":<path>}`, then answers each message (JSON) with
/// `{"echo":<message>,"channel_id":N}`.
pub fn webapp(
    page: String,
    library: Vec<u8>,
    ready: mpsc::UnboundedSender<Result<String, String>>,
) -> ProcessSpec {
    ProcessSpec::new(id("webapp:test:sys"), move |our: Address| {
        let (page, library, ready) = (page.clone(), library.clone(), ready.clone());
        async move {
            let binds = async {
                bind_http_path("/", true).await?;
                bind_http_path("/client-api.js", true).await?;
                bind_ws_path("/", true).await?;
                Ok::<_, process_lib::BindError>(())
            };
            let _ = ready.send(
                binds
                    .await
                    .map(|()| String::new())
                    .map_err(|e| e.to_string()),
            );
            loop {
                let Ok(message) = await_message().await else {
                    continue;
                };
                let Ok(request) = HttpServerRequest::from_json(message.body()) else {
                    continue;
                };
                match request {
                    HttpServerRequest::Http(incoming) => match incoming.bound_path.as_str() {
                        "/client-api.js" => {
                            answer_http(200, "text/javascript", library.clone());
                        }
                        _ => answer_http(200, "text/html; charset=utf-8", page.clone()),
                    },
                    HttpServerRequest::WebSocketOpen { path, channel_id } => {
                        push_text(
                            &our,
                            channel_id,
                            serde_json::json!({ "hello": path }).to_string(),
                        );
                    }
                    HttpServerRequest::WebSocketPush { channel_id, .. } => {
                        let blob = get_blob().unwrap_or_default();
                        let data: serde_json::Value =
                            serde_json::from_slice(&blob.bytes).unwrap_or(serde_json::Value::Null);
                        let reply = serde_json::json!({ "echo": data, "channel_id": channel_id });
                        push_text(&our, channel_id, reply.to_string());
                    }
                    HttpServerRequest::WebSocketClose(_) => {}
                }
            }
        }
    })
}
