//! `switchboard run --cluster`: an instance whose NATS server is not there yet says so in
//! one line, retries, and starts once the server is up; `--token-secret-file` makes its
//! tokens the same as `switchboard token`'s with the same file.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::BIN;

/// How long any one wait may take.
const WAIT: Duration = Duration::from_secs(20);

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Each line of `reader`, sent on as it comes, from a thread.
fn lines(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn an_instance_waits_for_its_nats_server_saying_so_once() {
    let home = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let secret = home.path().join("shared-secret");
    std::fs::write(&secret, "ab".repeat(32)).unwrap();
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let mut node = Command::new(BIN)
        .args([
            "run",
            "--bind",
            "127.0.0.1:0",
            "--node",
            "cluster.os",
            "--home",
        ])
        .arg(home.path().join("home"))
        .args(["--cluster", &url, "--token-secret-file"])
        .arg(&secret)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchboard");
    let stdout = lines(node.stdout.take().expect("stdout"));
    let stderr = lines(node.stderr.take().expect("stderr"));
    let _node = Killed(node);

    let said = stderr
        .iter()
        .find(|line| line.contains("cannot reach the cluster's NATS server"))
        .expect("the instance says NATS is unreachable");
    assert!(said.contains(&url), "the line names the server: {said}");

    let nats = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server is installed (scripts/setup)");
    let _nats = Killed(nats);

    let first = stdout.recv_timeout(WAIT).expect("the listening line");
    assert!(first.starts_with("listening on ws://"), "{first}");
    // Every line up to the one saying the instance joined: none repeats the warning.
    let mut before_joining = Vec::new();
    let joined = loop {
        let line = stderr
            .recv_timeout(WAIT)
            .expect("the instance says it joined");
        if line.contains("joined the node's cluster") {
            break line;
        }
        before_joining.push(line);
    };
    assert!(joined.contains("instance=1"), "{joined}");
    let repeated: Vec<&String> = before_joining
        .iter()
        .filter(|line| line.contains("cannot reach the cluster's NATS server"))
        .collect();
    assert!(repeated.is_empty(), "said more than once: {repeated:?}");

    // `switchboard token` with the same secret file mints a token this instance accepts:
    // the same bytes as one the node would mint, signed with the shared secret.
    let minted = Command::new(BIN)
        .args(["token", "--home"])
        .arg(home.path().join("home"))
        .env("SWITCHBOARD_TOKEN_SECRET_FILE", &secret)
        .output()
        .expect("switchboard token");
    assert!(minted.status.success());
    let token = String::from_utf8(minted.stdout).unwrap();
    let auth = gateway::auth::Auth::new("cluster.os", &[0xab; 32]);
    assert_eq!(
        auth.verify(token.trim()).map(|c| c.username),
        Ok("cluster.os".to_owned())
    );
}
