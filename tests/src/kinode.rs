//! `kinode:test:sys`: the full WebSocket handler from Kinode's docs, with its typos fixed
//! and its calls kept as the docs write them (`serde_json::from_slice::<HttpServerRequest>`,
//! `get_blob()` and `.bytes`, `IncomingHttpRequest { method, url, bound_path, .. }`,
//! `send_ws_push(our.node.clone(), …)`, and `send_ws_push` written out as a `Request`).
//!
//! What it does, so tests can see it: it keeps the open channels in a set and every text in
//! an archive. A text frame is archived and answered `#N text` through `send_ws_push`; a
//! binary frame is answered with its bytes reversed, pushed by the written-out `Request`.
//! The text `every node form` is answered five times, once per way of naming the node; the
//! text `bad node` sends a request to a node whose name is not valid and answers with the
//! error. `GET /kinode:test:sys/state` answers what it keeps, as JSON.

use std::collections::HashSet;
use std::str::FromStr;

use gateway::ProcessSpec;
use process_lib::{
    await_message, bind_http_path, get_blob, send_ws_push, Address, HttpResponse,
    HttpServerRequest, IncomingHttpRequest, LazyLoadBlob, NodeName, ProcessId, Request, Response,
    WsMessageType,
};

/// The process id.
pub const ID: &str = "kinode:test:sys";

/// Every text said so far, oldest first.
pub type MessageArchive = Vec<String>;

/// `kinode:test:sys`.
pub fn spec() -> ProcessSpec {
    ProcessSpec::new(ProcessId::from_str(ID).expect("valid process id"), run)
}

async fn run(our: Address) -> anyhow::Result<()> {
    bind_http_path("/state", false).await?;
    let mut message_archive = MessageArchive::new();
    let mut channel_ids: HashSet<u32> = HashSet::new();
    loop {
        let message = await_message().await?;
        if message.source().process != "http-server:distro:sys" {
            continue;
        }
        handle_http_server_request(
            &our,
            &mut message_archive,
            message.source(),
            message.body(),
            &mut channel_ids,
        )?;
    }
}

fn handle_http_server_request(
    our: &Address,
    message_archive: &mut MessageArchive,
    source: &Address,
    body: &[u8],
    channel_ids: &mut HashSet<u32>,
) -> anyhow::Result<()> {
    let Ok(server_request) = serde_json::from_slice::<HttpServerRequest>(body) else {
        // Fail silently if we can't parse the request
        return Ok(());
    };

    match server_request {
        HttpServerRequest::WebSocketOpen { channel_id, .. } => {
            channel_ids.insert(channel_id);
        }
        HttpServerRequest::WebSocketPush {
            channel_id,
            message_type,
        } => {
            let Some(blob) = get_blob() else {
                return Ok(());
            };

            handle_chat_request(
                our,
                message_archive,
                channel_id,
                source,
                &blob.bytes,
                message_type == WsMessageType::Binary,
            )?;
        }
        HttpServerRequest::WebSocketClose(channel_id) => {
            channel_ids.remove(&channel_id);
        }
        HttpServerRequest::Http(IncomingHttpRequest {
            method,
            url,
            bound_path,
            ..
        }) => {
            let mut open: Vec<u32> = channel_ids.iter().copied().collect();
            open.sort_unstable();
            let state = serde_json::json!({
                "method": method,
                "url": url,
                "bound_path": bound_path,
                "channel_ids": open,
                "archive": message_archive,
            });
            Response::new()
                .body(serde_json::to_vec(&HttpResponse {
                    status: 200,
                    headers: [("content-type".to_owned(), "application/json".to_owned())].into(),
                })?)
                .blob(LazyLoadBlob::new(
                    Some("application/json"),
                    state.to_string(),
                ))
                .send()?;
        }
    };

    Ok(())
}

fn handle_chat_request(
    our: &Address,
    message_archive: &mut MessageArchive,
    channel_id: u32,
    _source: &Address,
    bytes: &[u8],
    binary: bool,
) -> anyhow::Result<()> {
    if binary {
        let reversed: Vec<u8> = bytes.iter().rev().copied().collect();
        let blob = LazyLoadBlob {
            mime: Some("application/octet-stream".to_string()),
            bytes: reversed.into(),
        };
        return send_ws_push_as_a_request(
            our.node.to_string(),
            channel_id,
            WsMessageType::Binary,
            blob,
        );
    }
    let text = String::from_utf8_lossy(bytes).into_owned();
    match text.as_str() {
        "every node form" => every_node_form(our, channel_id),
        "bad node" => {
            let refused = Request::new()
                .target(Address::new(
                    "Not.A_Node",
                    ProcessId::from_str("http-server:distro:sys")?,
                ))
                .body(b"{}".to_vec())
                .send();
            let answer = match refused {
                Ok(()) => "sent".to_owned(),
                Err(error) => error.to_string(),
            };
            let blob = LazyLoadBlob::new(Some("text/plain"), answer);
            send_ws_push(our.node.clone(), channel_id, WsMessageType::Text, blob)?;
            Ok(())
        }
        _ => {
            message_archive.push(text.clone());
            let answer = format!("#{} {text}", message_archive.len());
            let blob = LazyLoadBlob::new(Some("text/plain"), answer);
            send_ws_push(our.node.clone(), channel_id, WsMessageType::Text, blob)?;
            Ok(())
        }
    }
}

/// One push per way of naming the node: a `&String`, a `&str`, a `&NodeName`, a `NodeName`
/// and a `String`.
fn every_node_form(our: &Address, channel_id: u32) -> anyhow::Result<()> {
    let push = |n: u32| LazyLoadBlob::new(Some("text/plain"), format!("form {n}"));
    let string: String = our.node.to_string();
    let str: &str = &our.node;
    let name: &NodeName = &our.node;
    send_ws_push(&string, channel_id, WsMessageType::Text, push(1))?;
    send_ws_push(str, channel_id, WsMessageType::Text, push(2))?;
    send_ws_push(name, channel_id, WsMessageType::Text, push(3))?;
    send_ws_push(our.node.clone(), channel_id, WsMessageType::Text, push(4))?;
    send_ws_push(string, channel_id, WsMessageType::Text, push(5))?;
    Ok(())
}

/// `send_ws_push` as Kinode's docs write it out: a `WebSocketPush` request to the node's
/// http-server, with the frame as the blob.
#[allow(clippy::unwrap_used)] // the docs' own `ProcessId::from_str(…).unwrap()`
fn send_ws_push_as_a_request(
    node: String,
    channel_id: u32,
    message_type: WsMessageType,
    blob: LazyLoadBlob,
) -> anyhow::Result<()> {
    Request::new()
        .target(Address::new(
            node,
            ProcessId::from_str("http-server:distro:sys").unwrap(),
        ))
        .body(
            serde_json::json!(HttpServerRequest::WebSocketPush {
                channel_id,
                message_type,
            })
            .to_string()
            .as_bytes()
            .to_vec(),
        )
        .blob(blob)
        .send()?;
    Ok(())
}
