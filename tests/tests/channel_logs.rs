//! What the node logs about channels: one line when a channel opens and one when it
//! closes, with what an operator needs; and never a token or a password, even at debug
//! level. This binary captures every log line of every crate.

use std::io::Write;
use std::sync::{Arc, Mutex};

use futures_util::SinkExt;
use serde_json::json;
use switchboard_tests::eventually;
use switchboard_tests::web::{send, RawRequest};
use switchboard_tests::{web_procs, Frame, TestNode, WsClient, WAIT};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// Where this test binary's logs go.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// The captured line with `message` and every one of `fields`, if any.
    fn line_with(&self, message: &str, fields: &[&str]) -> Option<String> {
        self.text()
            .lines()
            .find(|line| line.contains(message) && fields.iter().all(|f| line.contains(f)))
            .map(str::to_owned)
    }
}

fn capture() -> Captured {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    captured
}

#[tokio::test]
async fn channels_log_their_open_and_close_and_no_secret_reaches_a_log() {
    let logs = capture();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
    let node = TestNode::start(vec![web_procs::binder(ready_tx)]).await;
    tokio::time::timeout(WAIT, ready_rx.recv())
        .await
        .expect("binds answered in time");
    let token = node.token();

    // The register flow, with the token in the frame: 3 frames each way, then a close.
    let mut client = WsClient::connect(&node.url()).await;
    let channel_id = client.register(&token, "echo:echo:sys").await;
    for n in 0..3 {
        client.send_text(&format!("frame {n}")).await;
        assert_eq!(client.next_text().await, format!("frame {n}"));
    }
    client
        .ws
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })))
        .await
        .expect("send close");
    assert_eq!(client.next().await, Frame::Close(1000, String::new()));

    let id = format!("channel_id={channel_id}");
    eventually(
        switchboard_tests::WAIT,
        "the channel's close is logged",
        async || logs.line_with("channel closed", &[&id]).is_some(),
    )
    .await;
    let opened = logs
        .line_with("channel open", &[&id])
        .unwrap_or_else(|| panic!("no open line for {id}:\n{}", logs.text()));
    assert!(opened.contains(" INFO "), "{opened}");
    assert!(opened.contains("process=echo:echo:sys"), "{opened}");
    assert!(opened.contains("client=127.0.0.1:"), "{opened}");
    let closed = logs.line_with("channel closed", &[&id]).unwrap_or_default();
    for field in [
        "process=echo:echo:sys",
        "client=127.0.0.1:",
        "close_code=1000",
        "duration_ms=",
        "frames_in=3",
        // The `{"channel_id":N}` reply and 3 echoes.
        "frames_out=4",
    ] {
        assert!(closed.contains(field), "{field} missing: {closed}");
    }

    // A bound path with the token in the URL: opened, then closed by the process.
    let url = format!("ws://{}/binder:test:sys/ws?token={token}", node.addr());
    let mut bound = WsClient::connect(&url).await;
    let hello = bound.next_json().await;
    let bound_id = format!("channel_id={}", hello["channel_id"]);
    bound.send_text("close").await;
    assert_eq!(bound.next().await, Frame::Close(1000, String::new()));
    eventually(
        switchboard_tests::WAIT,
        "the bound channel's close is logged",
        async || {
            logs.line_with("channel closed", &[&bound_id, "process=binder:test:sys"])
                .is_some()
        },
    )
    .await;
    // A forged token refused, a wrong password and a right one.
    let mut forged = WsClient::connect(&node.url()).await;
    forged
        .send_register("forged-token-text", "echo:echo:sys", false)
        .await;
    forged.expect_refusal("unauthorized", 4401).await;
    let password = "a-password-never-logged";
    node.set_password(password);
    let wrong = "a-wrong-password-never-logged";
    let answer = send(
        node.addr(),
        &RawRequest::post_json("/login", &json!({ "password": wrong })),
    )
    .await;
    assert_eq!(answer.status, 401);
    let answer = send(
        node.addr(),
        &RawRequest::post_json("/login", &json!({ "password": password })),
    )
    .await;
    assert_eq!(answer.status, 200);
    let minted = answer.json()["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    eventually(switchboard_tests::WAIT, "the login is logged", async || {
        logs.line_with("login", &[]).is_some()
    })
    .await;

    let text = logs.text();
    for secret in [
        token.as_str(),
        minted.as_str(),
        "forged-token-text",
        password,
        wrong,
    ] {
        assert!(!secret.is_empty());
        assert!(!text.contains(secret), "{secret} reached the log:\n{text}");
    }
}
