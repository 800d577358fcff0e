//! A node with the author's own processes: `switchboard new` writes a crate that builds,
//! passes its own test and runs a node whose greeter answers clients (registered and on its
//! bound paths); `new` refuses what it cannot use; a node from the `Switchboard` builder
//! refuses clients as the binary's does.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gateway::{Config, Switchboard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

mod common;
use common::BIN;

const WAIT: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

fn switchboard(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run switchboard")
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn new_refuses_a_path_with_files_in_it_and_a_malformed_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = dir.path().join("taken");
    std::fs::create_dir(&taken).expect("mkdir");
    std::fs::write(taken.join("notes.txt"), "mine").expect("write");
    let path = taken.to_str().expect("utf-8 path");

    let output = switchboard(&["new", path]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr_of(&output),
        format!("switchboard: {path} exists and is not empty\n")
    );
    assert_eq!(
        std::fs::read_dir(&taken).expect("read").count(),
        1,
        "nothing written"
    );

    let fresh = dir.path().join("fresh");
    let fresh_path = fresh.to_str().expect("utf-8 path");
    let output = switchboard(&["new", fresh_path, "--process", "Greeter:hello:me"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr_of(&output),
        "switchboard: invalid process id \"Greeter:hello:me\": process id field \
         `process_name` has the character 'G', which is not allowed there\n"
    );
    assert!(!fresh.exists(), "nothing written");

    let output = switchboard(&[
        "new",
        dir.path().join("Not_A_Name").to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr_of(&output),
        "switchboard: the directory name \"Not_A_Name\" is not a process name ([a-z0-9-]); \
         pass --process NAME:PACKAGE:PUBLISHER\n"
    );
}

/// The workspace's target directory, where the `switchboard` under test was built.
fn target_dir() -> PathBuf {
    let bin = Path::new(BIN);
    bin.ancestors()
        .nth(2)
        .unwrap_or_else(|| panic!("{} is in TARGET/PROFILE/", bin.display()))
        .to_path_buf()
}

/// Runs `cargo ARGS` in `dir` with the workspace's target directory, and checks it succeeds.
fn cargo(dir: &Path, args: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "cargo {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        stderr_of(&output)
    );
}

/// A token for `home`'s node, minted by `bin`'s own `token` subcommand.
fn token(bin: &Path, home: &Path) -> String {
    let output = Command::new(bin)
        .arg("token")
        .arg("--home")
        .arg(home)
        .output()
        .expect("token");
    assert!(output.status.success(), "{}", stderr_of(&output));
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

async fn next_frame(ws: &mut Socket) -> Message {
    tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a frame in time")
        .expect("the socket is open")
        .expect("a frame")
}

async fn next_text(ws: &mut Socket) -> String {
    match next_frame(ws).await {
        Message::Text(text) => text.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Connects to `url` and sends a register frame for `process` with `token`.
async fn register_frame(url: &str, token: &str, process: &str) -> Socket {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let frame =
        serde_json::json!({"auth_token": token, "target_process": process, "encrypted": false});
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("send");
    ws
}

async fn register(url: &str, token: &str, process: &str) -> Socket {
    let mut ws = register_frame(url, token, process).await;
    let reply = next_text(&mut ws).await;
    assert!(reply.starts_with("{\"channel_id\":"), "{reply}");
    ws
}

/// Registers with `token` to `process` and asserts the refusal: its error code, then the close.
async fn expect_refusal(url: &str, token: &str, process: &str, code: &str, close: u16) {
    let mut ws = register_frame(url, token, process).await;
    let error: serde_json::Value =
        serde_json::from_str(&next_text(&mut ws).await).expect("an error frame");
    assert_eq!(error["error"]["code"], code, "{error}");
    match next_frame(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), close),
        other => panic!("expected close {close}, got {other:?}"),
    }
}

/// Sends `{"type":"say","text":name}` and returns the reply's text.
async fn say(ws: &mut Socket, name: &str) -> String {
    let frame = serde_json::json!({"type": "say", "text": name});
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("send");
    let reply: serde_json::Value =
        serde_json::from_str(&next_text(ws).await).expect("a JSON reply");
    assert_eq!(reply["type"], "message", "{reply}");
    reply["text"].as_str().expect("text").to_owned()
}

/// `GET path` over plain HTTP/1.1; the whole response as text.
async fn http_get(addr: &str, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .expect("a response in time")
        .expect("read");
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_new_crate_builds_passes_its_test_and_greets_clients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let krate = dir.path().join("my-node");
    let output = switchboard(&[
        "new",
        krate.to_str().expect("utf-8 path"),
        "--process",
        "greeter:my-node:me",
    ]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .starts_with("created crate my-node with process greeter:my-node:me in "),
        "{output:?}"
    );

    cargo(&krate, &["test", "--quiet"]);
    cargo(&krate, &["build", "--quiet"]);
    let bin = target_dir().join("debug").join("my-node");
    let home = dir.path().join("home");
    let node = common::run_binary(&bin, &home, &[], Stdio::null());
    let token = token(&bin, &home);
    let process = "greeter:my-node:me";

    // A client registered to the process.
    let mut ws = register(&node.url, &token, process).await;
    assert_eq!(say(&mut ws, "Ada").await, "Hello, Ada!");

    // The refusals of the switchboard binary; the bundled processes run beside the greeter.
    expect_refusal(&node.url, "not-a-token", process, "unauthorized", 4401).await;
    expect_refusal(&node.url, &token, "nobody:here:me", "no_such_process", 4404).await;
    let mut echo = register(&node.url, &token, "echo:echo:sys").await;
    echo.send(Message::text("still here")).await.expect("send");
    assert_eq!(next_text(&mut echo).await, "still here");

    // The page and the socket on its bound paths.
    let addr = node
        .url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned();
    let page = http_get(&addr, &format!("/{process}/?token={token}")).await;
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("<title>Greeter</title>"), "{page}");
    let refused = http_get(&addr, &format!("/{process}/")).await;
    assert!(refused.starts_with("HTTP/1.1 401 "), "{refused}");
    let (mut bound, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/{process}/ws?token={token}"))
            .await
            .expect("connect to the bound path");
    assert_eq!(say(&mut bound, "Grace").await, "Hello, Grace!");
}

/// A process that answers each text frame with `mine:` and the frame.
async fn mine(our: process_lib::Address) -> anyhow::Result<()> {
    use process_lib::{await_message, get_blob, send_ws_push, HttpServerRequest, LazyLoadBlob};
    loop {
        let message = await_message().await?;
        if let Ok(HttpServerRequest::WebSocketPush {
            channel_id,
            message_type,
        }) = HttpServerRequest::from_json(message.body())
        {
            let text = String::from_utf8_lossy(&get_blob().unwrap_or_default().bytes).into_owned();
            let reply = LazyLoadBlob::from_bytes(format!("mine:{text}"));
            let _ = send_ws_push(&our.node, channel_id, message_type, reply);
        }
    }
}

#[tokio::test]
async fn a_node_from_the_builder_refuses_clients_as_the_binarys_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::new(dir.path());
    config.bind = "127.0.0.1:0".parse().expect("addr");
    let node = Switchboard::new()
        .process("mine:test:me", mine)
        .start(config)
        .await
        .expect("node starts");
    let url = node.ws_url();
    let token = node.mint_token(Duration::from_secs(60));

    let mut ws = register(&url, &token, "mine:test:me").await;
    ws.send(Message::text("hi")).await.expect("send");
    assert_eq!(next_text(&mut ws).await, "mine:hi");

    expect_refusal(&url, "forged", "mine:test:me", "unauthorized", 4401).await;
    // Without `.bundled()`, the bundled processes are not there.
    expect_refusal(&url, &token, "echo:echo:sys", "no_such_process", 4404).await;
    node.shutdown().await;
}

#[tokio::test]
async fn a_builder_with_a_malformed_id_starts_no_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::new(dir.path());
    config.bind = "127.0.0.1:0".parse().expect("addr");
    let error = Switchboard::new()
        .process("mine", mine)
        .start(config)
        .await
        .expect_err("refused");
    assert_eq!(
        error.to_string(),
        "invalid process id \"mine\": process id needs three non-empty fields \
         `name:package:publisher`"
    );
}
