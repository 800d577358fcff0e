//! The greeter: a process that greets every name it is sent, and serves a page to send them.
//!
//! - `GET /<process id>/` (after logging in) answers the page in `index.html`.
//! - A WebSocket at `/<process id>/ws` (what the page opens), or one that registers to this
//!   process: send `{"type":"say","text":"Ada"}` and get
//!   `{"type":"message","id":1,"from":"greeter","text":"Hello, Ada!"}` back.
//!
//! Those frames are the bundled chat's, so `switchboard chat --process <process id>` is a
//! terminal client for it too.

use std::collections::BTreeMap;

use process_lib::{
    await_message, bind_http_path, bind_ws_path, get_blob, send_ws_push, Address, HttpResponse,
    HttpServerRequest, LazyLoadBlob, Response, WsMessageType,
};
use serde_json::{json, Value};

/// The id the node runs this process under.
pub const ID: &str = "{{process_id}}";

/// The page served at `/<process id>/`.
const PAGE: &str = include_str!("index.html");

/// Runs the greeter until the node stops it (a failure restarts it).
pub async fn run(our: Address) -> anyhow::Result<()> {
    // `true`: only a logged-in browser, or a client with a token, gets in.
    bind_http_path("/", true).await?;
    bind_ws_path("/ws", true).await?;
    let mut greeted = 0;
    loop {
        let Ok(message) = await_message().await else {
            continue;
        };
        match HttpServerRequest::from_json(message.body()) {
            Ok(HttpServerRequest::Http(_)) => serve_page()?,
            Ok(HttpServerRequest::WebSocketPush { channel_id, .. }) => {
                let frame = get_blob().unwrap_or_default();
                if let Some(reply) = answer(&frame.bytes, &mut greeted) {
                    // A client that has just left is no reason to stop: ignore the error.
                    let _ = send_ws_push(
                        &our.node,
                        channel_id,
                        WsMessageType::Text,
                        LazyLoadBlob::from_bytes(reply),
                    );
                }
            }
            // Channels opening and closing, and anything else, need no answer.
            _ => {}
        }
    }
}

/// Answers an HTTP request with the page.
fn serve_page() -> anyhow::Result<()> {
    let head = HttpResponse {
        status: 200,
        headers: BTreeMap::from([(
            "content-type".to_owned(),
            "text/html; charset=utf-8".to_owned(),
        )]),
    };
    Response::new()
        .body(serde_json::to_vec(&head)?)
        .blob(LazyLoadBlob::from_bytes(PAGE))
        .send()?;
    Ok(())
}

/// The reply to one frame from a client, if it calls for one; `greeted` counts greetings
/// and numbers them.
fn answer(frame: &[u8], greeted: &mut u64) -> Option<String> {
    let request: Value = serde_json::from_slice(frame).unwrap_or(Value::Null);
    let reply = match (request["type"].as_str(), request["text"].as_str()) {
        (Some("say"), Some(name)) if !name.trim().is_empty() => {
            *greeted += 1;
            json!({
                "type": "message",
                "id": *greeted,
                "from": "greeter",
                "text": format!("Hello, {}!", name.trim()),
            })
        }
        // Other requests (the chat client asks for history) have no meaning here.
        (Some(kind), _) if kind != "say" => return None,
        _ => json!({
            "type": "error",
            "message": "send {\"type\":\"say\",\"text\":\"<a name>\"} to be greeted",
        }),
    };
    Some(reply.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_is_greeted_with_the_next_number() {
        let mut greeted = 0;
        let first = answer(br#"{"type":"say","text":"Ada"}"#, &mut greeted);
        assert_eq!(
            first.as_deref(),
            Some(r#"{"from":"greeter","id":1,"text":"Hello, Ada!","type":"message"}"#)
        );
        let second = answer(br#"{"type":"say","text":" Grace "}"#, &mut greeted);
        assert_eq!(
            second.as_deref(),
            Some(r#"{"from":"greeter","id":2,"text":"Hello, Grace!","type":"message"}"#)
        );
    }

    #[test]
    fn a_frame_without_a_name_is_told_what_to_send() {
        let mut greeted = 0;
        for frame in [
            &b"Ada"[..],
            br#"{"type":"say","text":"  "}"#,
            br#"{"text":"x"}"#,
        ] {
            let reply = answer(frame, &mut greeted).expect("an error reply");
            assert!(reply.contains(r#""type":"error""#), "{reply}");
        }
        assert_eq!(greeted, 0);
    }

    #[test]
    fn other_requests_are_left_unanswered() {
        assert_eq!(answer(br#"{"type":"history"}"#, &mut 0), None);
    }
}
