//! The `switchboard` binary as scripts use it: `run`, `token`, signals, and bad input.

use futures_util::{SinkExt, StreamExt};
use std::process::{Command, Stdio};
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::{Running, BIN};

fn run_node(home: &std::path::Path, extra: &[&str]) -> Running {
    let node = common::run_node(home, extra, Stdio::null());
    assert!(node.url.starts_with("ws://127.0.0.1:"), "{}", node.url);
    node
}

fn token(home: &std::path::Path, extra: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("token")
        .arg("--home")
        .arg(home)
        .args(extra)
        .output()
        .expect("token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

async fn register(
    url: &str,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let frame = serde_json::json!({"auth_token": token, "target_process": "echo:echo:sys", "encrypted": false});
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("send");
    let reply = ws.next().await.expect("reply").expect("frame");
    assert!(
        reply
            .to_text()
            .expect("text")
            .starts_with("{\"channel_id\":"),
        "{reply:?}"
    );
    ws
}

#[tokio::test]
async fn run_token_echo_and_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let mut node = run_node(&home, &["--node", "alice.os"]);
    // The token command knows the home's node name without being told.
    let token = token(&home, &["--ttl", "60"]);
    let mut ws = register(&node.url, &token).await;
    ws.send(Message::text("from the cli test"))
        .await
        .expect("send");
    let echoed = ws.next().await.expect("echo").expect("frame");
    assert_eq!(echoed.to_text().expect("text"), "from the cli test");

    let pid = node.child.id() as i32;
    assert_eq!(send_signal(pid, "TERM"), 0);
    let error = ws.next().await.expect("error frame").expect("frame");
    let error: serde_json::Value =
        serde_json::from_str(error.to_text().expect("text")).expect("json");
    assert_eq!(error["error"]["code"], "going_away");
    match ws.next().await.expect("close").expect("frame") {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
    drop(ws);
    let status = tokio::task::spawn_blocking(move || node.child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
}

/// Sends `signal` with the `kill` command (no unsafe code in the project).
fn send_signal(pid: i32, signal: &str) -> i32 {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .map(|s| if s.success() { 0 } else { 1 })
        .unwrap_or(1)
}

fn fails_with_one_line(args: &[&str], code: i32, says: &str) {
    let out = Command::new(BIN).args(args).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line, got {stderr:?}");
    assert!(lines[0].starts_with("switchboard: "), "{stderr}");
    assert!(lines[0].contains(says), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_flags_and_homes_say_so_on_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    let file = file.to_str().expect("utf8 path");
    let missing = dir.path().join("missing");
    let missing = missing.to_str().expect("utf8 path");

    fails_with_one_line(&["run", "--bogus"], 2, "unexpected argument '--bogus'");
    fails_with_one_line(&["run", "--bind", "nowhere"], 2, "invalid value 'nowhere'");
    fails_with_one_line(&["token", "--ttl", "soon"], 2, "invalid value 'soon'");
    fails_with_one_line(&["frobnicate"], 2, "unrecognized subcommand");
    fails_with_one_line(
        &["run", "--home", file, "--bind", "127.0.0.1:0"],
        1,
        "cannot use home directory",
    );
    fails_with_one_line(&["token", "--home", missing], 1, "no node home at");
    let home = dir.path().join("h");
    let home = home.to_str().expect("utf8 path");
    fails_with_one_line(
        &[
            "run",
            "--home",
            home,
            "--bind",
            "127.0.0.1:0",
            "--node",
            "Bad_Name",
        ],
        1,
        "invalid node name",
    );
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().to_str().expect("utf8 path");
    fails_with_one_line(
        &["run", "--home", home, "--bind", &addr],
        1,
        "cannot listen on",
    );
}

/// The error frame's code and the close code a client of a stopping node reads.
async fn told(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> (String, u16) {
    let wait = std::time::Duration::from_secs(10);
    let error = tokio::time::timeout(wait, ws.next())
        .await
        .expect("the error frame in time")
        .expect("error frame")
        .expect("frame");
    let error: serde_json::Value =
        serde_json::from_str(error.to_text().expect("text")).expect("json");
    let close = match tokio::time::timeout(wait, ws.next()).await {
        Ok(Some(Ok(Message::Close(Some(frame))))) => u16::from(frame.code),
        other => panic!("expected a close frame, got {other:?}"),
    };
    (
        error["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        close,
    )
}

#[tokio::test]
async fn sigterm_drains_every_client_in_batches_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let mut node = run_node(
        &home,
        &["--drain-batch-size", "2", "--drain-batch-interval-ms", "20"],
    );
    let token = token(&home, &[]);
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(register(&node.url, &token).await);
    }
    assert_eq!(send_signal(node.child.id() as i32, "TERM"), 0);
    for ws in &mut clients {
        assert_eq!(told(ws).await, ("going_away".to_owned(), 1001));
    }
    drop(clients);
    let status = tokio::task::spawn_blocking(move || node.child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn a_second_sigint_while_draining_stops_the_node_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    // One channel a batch, ten minutes apart: only a second signal ends this drain soon.
    let mut node = common::run_node(
        &home,
        &[
            "--drain-batch-size",
            "1",
            "--drain-batch-interval-ms",
            "600000",
        ],
        Stdio::piped(),
    );
    let token = token(&home, &[]);
    let mut first = register(&node.url, &token).await;
    let mut second = register(&node.url, &token).await;
    let pid = node.child.id() as i32;
    assert_eq!(send_signal(pid, "INT"), 0);
    assert_eq!(told(&mut first).await, ("going_away".to_owned(), 1001));
    // The second client's batch is ten minutes away: it is still served.
    second
        .send(Message::text("still here"))
        .await
        .expect("send");
    let echoed = second.next().await.expect("echo").expect("frame");
    assert_eq!(echoed.to_text().expect("text"), "still here");

    assert_eq!(send_signal(pid, "INT"), 0);
    let mut stderr = node.child.stderr.take().expect("stderr");
    let joined = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).expect("stderr");
        (node.child.wait().expect("wait"), text)
    });
    let (status, stderr) = tokio::time::timeout(std::time::Duration::from_secs(10), joined)
        .await
        .expect("the node stops well before its next batch")
        .expect("join");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("switchboard: a second signal came while draining: stopped at once"),
        "{stderr}"
    );
}
