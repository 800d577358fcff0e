//! `switchboard chat` against a node serving `wss://` with a certificate from a private CA
//! (rcgen): with `--ca-cert` it chats and reconnects after a restart; a certificate it
//! refuses (unknown issuer, another name, expired) is said in one line on stderr with exit 1.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use gateway::config::TlsFiles;
use gateway::{Config, RunningNode};

// The CA helper of the workspace's integration tests, shared as a file: that crate depends
// on this one. Not every helper in it is used here.
#[allow(dead_code)]
#[path = "../../tests/src/pki.rs"]
mod pki;
use pki::TestCa;

mod common;

use common::chat::ChatCli;

use common::BIN;

async fn start_tls_node(home: &Path, bind: SocketAddr, files: TlsFiles) -> RunningNode {
    let mut config = Config::new(home);
    config.bind = bind;
    config.tls = Some(files);
    gateway::start(config, gateway::bundled_processes())
        .await
        .expect("node starts")
}

/// The node's wss URL by the name its certificate is for.
fn url(node: &RunningNode) -> String {
    format!("wss://localhost:{}/", node.local_addr().port())
}

/// A running `switchboard chat`, its stdout read line by line.
/// Runs `switchboard chat ARGS` to its end with no input; its exit code and stderr.
async fn run_chat(args: Vec<String>) -> (Option<i32>, String, Vec<u8>) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .arg("chat")
            .args(args)
            .stdin(Stdio::null())
            .output()
    })
    .await
    .expect("join")
    .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr, out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_ca_given_the_chat_runs_over_wss_and_reconnects_after_a_restart() {
    let ca = TestCa::new();
    let ca_file = ca.pem_file();
    let home = tempfile::tempdir().expect("home");
    let node = start_tls_node(
        home.path(),
        ([127, 0, 0, 1], 0).into(),
        ca.issue("localhost"),
    )
    .await;
    let addr = node.local_addr();
    let token = node.mint_token(Duration::from_secs(600));
    let ca_arg = ca_file.to_str().expect("utf-8 path");
    let mut ann = ChatCli::start(&[&url(&node), "--token", &token, "--ca-cert", ca_arg]);
    assert_eq!(
        ann.line().await,
        "Welcome, user1! 1 person here. Type /help for the commands, exit to leave."
    );
    ann.type_line("over tls");
    assert_eq!(ann.line().await, "[user1]: over tls");

    node.shutdown().await;
    assert_eq!(
        ann.line().await,
        "* connection lost: the node is shutting down (close code 1001)"
    );
    let node = start_tls_node(home.path(), addr, ca.issue("localhost")).await;
    let before = ann.until("* reconnected; fetching what you missed").await;
    assert!(
        before.iter().all(|l| l.starts_with("* reconnecting in ")),
        "{before:?}"
    );
    ann.type_line("after the restart");
    let before = ann.until("[user1]: after the restart").await;
    assert!(
        before.iter().all(|l| l.starts_with("* ")),
        "only notices come first: {before:?}"
    );
    ann.type_line("exit");
    assert_eq!(ann.line().await, "Goodbye!");
    assert_eq!(ann.exit_code().await, 0);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_certificate_is_one_line_on_stderr_and_exit_1() {
    let ca = TestCa::new();
    let ca_file = ca.pem_file().to_str().expect("utf-8 path").to_owned();
    let homes = [(); 3].map(|()| tempfile::tempdir().expect("home"));
    let any_port: SocketAddr = ([127, 0, 0, 1], 0).into();
    let trusted = start_tls_node(homes[0].path(), any_port, ca.issue("localhost")).await;
    let elsewhere = start_tls_node(homes[1].path(), any_port, ca.issue("elsewhere.example")).await;
    let expired = start_tls_node(homes[2].path(), any_port, ca.issue_expired("localhost")).await;
    let args = |node: &RunningNode, ca: Option<&str>| {
        let mut args = vec![
            url(node),
            "--token".to_owned(),
            node.mint_token(Duration::from_secs(600)),
        ];
        if let Some(ca) = ca {
            args.extend(["--ca-cert".to_owned(), ca.to_owned()]);
        }
        args
    };

    let cases = [
        (
            args(&trusted, None),
            format!(
                "switchboard: cannot join chat:chat:sys at {}: the node's certificate is signed \
                 by an unknown issuer (not a trusted CA); pass --ca-cert FILE to trust the CA \
                 (or self-signed certificate) it is from",
                url(&trusted)
            ),
        ),
        (
            args(&elsewhere, Some(&ca_file)),
            format!(
                "switchboard: cannot join chat:chat:sys at {}: the node's certificate is not \
                 valid for localhost (it is for elsewhere.example)",
                url(&elsewhere)
            ),
        ),
        (
            args(&expired, Some(&ca_file)),
            format!(
                "switchboard: cannot join chat:chat:sys at {}: the node's certificate has \
                 expired (valid until Wed, 01 Jan 2020 00:00:00 GMT)",
                url(&expired)
            ),
        ),
        (
            args(&trusted, Some("/nonexistent/ca.pem")),
            "switchboard: cannot read the CA certificate /nonexistent/ca.pem: \
             No such file or directory (os error 2)"
                .to_owned(),
        ),
    ];
    for (args, want) in cases {
        let (code, stderr, stdout) = run_chat(args).await;
        assert_eq!(code, Some(1), "{stderr}");
        assert_eq!(stderr, format!("{want}\n"));
        assert!(stdout.is_empty(), "{}", String::from_utf8_lossy(&stdout));
    }
    for node in [trusted, elsewhere, expired] {
        node.shutdown().await;
    }
}
