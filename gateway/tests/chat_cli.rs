//! `switchboard chat` driven through its stdin and stdout against a real node: two people
//! chat and whisper, `exit` and end-of-input leave with a goodbye, a refusal is explained on
//! stderr with a non-zero exit, a restarted node is reconnected to with what was missed, and
//! a client given two URLs moves to the other when its node goes away (shut down or killed
//! with SIGKILL), missing nothing and showing nothing twice.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gateway::{Config, RunningNode};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::chat::ChatCli;

use common::BIN;
const WAIT: Duration = Duration::from_secs(10);

async fn start_node(home: &Path, bind: SocketAddr) -> RunningNode {
    let mut config = Config::new(home);
    config.bind = bind;
    gateway::start(config, gateway::bundled_processes())
        .await
        .expect("node starts")
}

/// A running `switchboard chat`, its stdout read line by line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_chat_whisper_and_leave() {
    let home = tempfile::tempdir().expect("home");
    let node = start_node(home.path(), ([127, 0, 0, 1], 0).into()).await;
    let token = node.mint_token(Duration::from_secs(600));

    let mut ann = ChatCli::start(&[&node.ws_url(), "--token", &token]);
    assert_eq!(
        ann.line().await,
        "Welcome, user1! 1 person here. Type /help for the commands, exit to leave."
    );
    let mut bob = ChatCli::start(&[&node.ws_url(), "--token", &token]);
    assert_eq!(
        bob.line().await,
        "Welcome, user2! 2 people here. Type /help for the commands, exit to leave."
    );
    assert_eq!(ann.line().await, "* user2 joined; 2 people here");

    ann.type_line("/name ann");
    assert_eq!(ann.line().await, "* you are now ann");
    assert_eq!(bob.line().await, "* user1 is now ann");
    ann.type_line("hello, bob");
    assert_eq!(ann.line().await, "[ann]: hello, bob");
    assert_eq!(bob.line().await, "[ann]: hello, bob");
    bob.type_line("/whisper ann just between us");
    assert_eq!(bob.line().await, "[whisper to ann]: just between us");
    assert_eq!(ann.line().await, "[whisper from user2]: just between us");
    bob.type_line("/whisper nobody hi");
    assert_eq!(
        bob.line().await,
        "error: nobody called nobody is here; /who lists who is"
    );
    bob.type_line("/who");
    assert_eq!(bob.line().await, "2 people here: ann, user2");

    bob.type_line("exit");
    assert_eq!(bob.line().await, "Goodbye!");
    assert_eq!(bob.exit_code().await, 0);
    assert_eq!(ann.line().await, "* user2 left; 1 person here");

    // End of input (Ctrl-D at a terminal) leaves too.
    drop(ann.stdin.take());
    assert_eq!(ann.line().await, "Goodbye!");
    assert_eq!(ann.exit_code().await, 0);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_sees_the_last_messages() {
    let home = tempfile::tempdir().expect("home");
    let node = start_node(home.path(), ([127, 0, 0, 1], 0).into()).await;
    let token = node.mint_token(Duration::from_secs(600));
    let mut ann = ChatCli::start(&[&node.ws_url(), "--token", &token]);
    ann.line().await;
    for text in ["first", "second"] {
        ann.type_line(text);
        assert_eq!(ann.line().await, format!("[user1]: {text}"));
    }
    let mut bob = ChatCli::start(&[&node.ws_url(), "--token", &token]);
    bob.line().await; // welcome
    assert_eq!(bob.line().await, "[user1]: first");
    assert_eq!(bob.line().await, "[user1]: second");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_prints_the_servers_reason_and_exits_non_zero() {
    let home = tempfile::tempdir().expect("home");
    let node = start_node(home.path(), ([127, 0, 0, 1], 0).into()).await;
    let url = node.ws_url();
    let run = move |args: Vec<String>| {
        std::thread::spawn(move || Command::new(BIN).args(args).stdin(Stdio::null()).output())
            .join()
            .expect("join")
            .expect("run")
    };
    let out = run(vec![
        "chat".into(),
        url.clone(),
        "--token".into(),
        "forged".into(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .contains("the auth token is not valid for this node (unauthorized, close code 4401)"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    // Given two URLs (as two arguments), a refusal by both is the same refusal.
    let out = run(vec![
        "chat".into(),
        url.clone(),
        url.clone(),
        "--token".into(),
        "forged".into(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot join chat:chat:sys at {url}, {url}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("(unauthorized, close code 4401)"),
        "{stderr}"
    );

    let out = run(vec![
        "chat".into(),
        url.clone(),
        "--home".into(),
        "/nonexistent/switchboard-home".into(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "switchboard: no node home at /nonexistent/switchboard-home: pass --token, or --home with the node's home"
    );

    let token = node.mint_token(Duration::from_secs(600));
    let out = run(vec![
        "chat".into(),
        url,
        "--token".into(),
        token,
        "--process".into(),
        "nochat:chat:sys".into(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no process nochat:chat:sys accepts WebSockets on this node (no_such_process, close code 4404)"),
        "{stderr}"
    );
    node.shutdown().await;
}

/// Says something in the chat of the node at `url` from a plain WebSocket client.
async fn say_from_elsewhere(url: &str, token: &str, text: &str) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let register = serde_json::json!({"auth_token": token, "target_process": "chat:chat:sys"});
    ws.send(Message::text(register.to_string()))
        .await
        .expect("register");
    let say = serde_json::json!({"type": "say", "text": text});
    ws.send(Message::text(say.to_string())).await.expect("say");
    // Wait until the chat has broadcast it: it is archived by then.
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        if frame
            .to_text()
            .is_ok_and(|t| t.contains(&format!("\"text\":\"{text}\"")))
        {
            break;
        }
    }
    let _ = ws.close(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_reconnects_and_shows_what_was_missed() {
    let home = tempfile::tempdir().expect("home");
    let node = start_node(home.path(), ([127, 0, 0, 1], 0).into()).await;
    let addr = node.local_addr();
    let token = node.mint_token(Duration::from_secs(600));
    let mut ann = ChatCli::start(&[&node.ws_url(), "--token", &token]);
    ann.line().await;
    ann.type_line("/name ann");
    assert_eq!(ann.line().await, "* you are now ann");
    ann.type_line("before");
    assert_eq!(ann.line().await, "[ann]: before");

    node.shutdown().await;
    assert_eq!(
        ann.line().await,
        "* connection lost: the node is shutting down (close code 1001)"
    );
    // While ann's node is down, the same home serves elsewhere for a moment and a message
    // is archived there: ann cannot have seen it live.
    let elsewhere = start_node(home.path(), ([127, 0, 0, 1], 0).into()).await;
    say_from_elsewhere(&elsewhere.ws_url(), &token, "while you were away").await;
    elsewhere.shutdown().await;

    let node = start_node(home.path(), addr).await;
    let before = ann.until("* reconnected; fetching what you missed").await;
    assert!(
        before.iter().all(|l| l.starts_with("* reconnecting in ")),
        "{before:?}"
    );
    // The chosen name is asked for again, then the missed message is shown.
    assert_eq!(ann.line().await, "* back as user1; 1 person here");
    assert_eq!(ann.line().await, "* you are now ann");
    assert_eq!(ann.line().await, "[user1]: while you were away");
    ann.type_line("after");
    assert_eq!(ann.line().await, "[ann]: after");
    ann.type_line("exit");
    assert_eq!(ann.line().await, "Goodbye!");
    assert_eq!(ann.exit_code().await, 0);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_two_urls_the_chat_moves_to_the_other_and_shows_what_was_missed() {
    let home = tempfile::tempdir().expect("home");
    let node = start_node(home.path(), ([127, 0, 0, 1], 0).into()).await;
    let token = node.mint_token(Duration::from_secs(600));
    let other = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let other_url = format!("ws://{other}/");
    // Two URLs as one comma-separated argument.
    let urls = format!("{},{other_url}", node.ws_url());
    let mut ann = ChatCli::start(&[&urls, "--token", &token]);
    ann.line().await;
    ann.type_line("/name ann");
    assert_eq!(ann.line().await, "* you are now ann");
    ann.type_line("before");
    assert_eq!(ann.line().await, "[ann]: before");

    node.shutdown().await;
    assert_eq!(
        ann.line().await,
        "* connection lost: the node is shutting down (close code 1001)"
    );
    // Neither URL answers while the home serves elsewhere for a moment and a message is
    // archived there; then the node comes back at the second URL.
    let elsewhere = start_node(home.path(), ([127, 0, 0, 1], 0).into()).await;
    say_from_elsewhere(&elsewhere.ws_url(), &token, "while you were away").await;
    elsewhere.shutdown().await;
    let node = start_node(home.path(), other).await;

    let before = ann
        .until(&format!(
            "* reconnected to {other_url}; fetching what you missed"
        ))
        .await;
    assert!(!before.is_empty());
    assert!(
        before
            .iter()
            .all(|l| l.starts_with("* reconnecting in ") && l.contains(" s to ws://127.0.0.1:")),
        "{before:?}"
    );
    assert_eq!(ann.line().await, "* back as user1; 1 person here");
    assert_eq!(ann.line().await, "* you are now ann");
    assert_eq!(ann.line().await, "[user1]: while you were away");
    ann.type_line("after");
    assert_eq!(ann.line().await, "[ann]: after");
    ann.type_line("exit");
    assert_eq!(ann.line().await, "Goodbye!");
    assert_eq!(ann.exit_code().await, 0);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_two_urls_the_chat_outlives_its_node_killed_with_sigkill() {
    let home = tempfile::tempdir().expect("home");
    let mut first = common::run_node(home.path(), &[], Stdio::null());
    let other = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let other_url = format!("ws://{other}/");
    // Two URLs as two arguments; the token is minted from the home.
    let home_arg = home.path().display().to_string();
    let mut ann = ChatCli::start(&[&first.url, &other_url, "--home", &home_arg]);
    ann.line().await;
    ann.type_line("before");
    assert_eq!(ann.line().await, "[user1]: before");

    first.child.kill().expect("SIGKILL the node");
    first.child.wait().expect("the node ends");
    assert_eq!(
        ann.line().await,
        "* connection lost: the connection was lost"
    );
    let elsewhere = start_node(home.path(), ([127, 0, 0, 1], 0).into()).await;
    let token = elsewhere.mint_token(Duration::from_secs(600));
    say_from_elsewhere(&elsewhere.ws_url(), &token, "while you were away").await;
    elsewhere.shutdown().await;
    let node = start_node(home.path(), other).await;

    ann.until(&format!(
        "* reconnected to {other_url}; fetching what you missed"
    ))
    .await;
    assert_eq!(ann.line().await, "* back as user1; 1 person here");
    assert_eq!(ann.line().await, "[user1]: while you were away");
    ann.type_line("after");
    // Nothing shown twice: "before" does not come again.
    assert_eq!(ann.line().await, "[user1]: after");
    ann.type_line("exit");
    assert_eq!(ann.line().await, "Goodbye!");
    assert_eq!(ann.exit_code().await, 0);
    node.shutdown().await;
}

/// Everything a program wrote to a terminal so far, read on a thread.
struct TerminalOutput {
    chunks: mpsc::UnboundedReceiver<Vec<u8>>,
    seen: String,
}

impl TerminalOutput {
    /// Waits until the output contains `want`.
    async fn wait_for(&mut self, want: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.seen.contains(want) {
            match tokio::time::timeout_at(deadline, self.chunks.recv()).await {
                Ok(Some(chunk)) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                _ => panic!(
                    "the terminal never showed {want:?}; it showed {:?}",
                    self.seen
                ),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_a_terminal_incoming_lines_do_not_garble_the_line_being_typed() {
    use std::io::Read;
    let home = tempfile::tempdir().expect("home");
    let node = start_node(home.path(), ([127, 0, 0, 1], 0).into()).await;
    let token = node.mint_token(Duration::from_secs(600));
    // `script` runs the client on a real pseudo-terminal and relays our stdin to it.
    let command = format!("{BIN} chat {} --token {token}", node.ws_url());
    let mut child = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("TERM", "xterm-256color")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn script (util-linux)");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, chunks) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                return;
            }
        }
    });
    let mut terminal = TerminalOutput {
        chunks,
        seen: String::new(),
    };
    let mut keys = child.stdin.take().expect("stdin");
    let mut type_keys = |keys_typed: &[u8]| {
        keys.write_all(keys_typed).expect("type");
        keys.flush().expect("flush");
    };

    terminal.wait_for("Welcome, user1!").await;
    type_keys(b"half a li");
    terminal.wait_for("half a li").await;

    // Someone else speaks while the line is half typed.
    let mut other = ChatCli::start(&[&node.ws_url(), "--token", &token]);
    other.line().await;
    other.type_line("interrupting you");
    assert_eq!(other.line().await, "[user2]: interrupting you");
    // The message is printed on a line of its own, and the prompt comes back below it with
    // the half-typed line intact.
    terminal
        .wait_for("[user2]: interrupting you\r\n> half a li")
        .await;

    type_keys(b"ne\r");
    terminal.wait_for("[user1]: half a line").await;
    assert_eq!(other.line().await, "[user1]: half a line");

    type_keys(b"\x04"); // Ctrl-D
    terminal.wait_for("Goodbye!").await;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
    node.shutdown().await;
}
