//! `switchboard id`, `run --net-bind` and `--peer`, and `[[peer]]` in config.toml, as an
//! operator uses them to link two nodes.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod common;
use common::BIN;

const WAIT: Duration = Duration::from_secs(10);

/// `switchboard id --home HOME` as `(node, public_key, net_address)`.
fn id(home: &Path) -> (String, String, String) {
    let out = Command::new(BIN)
        .args(["id", "--home"])
        .arg(home)
        .output()
        .expect("id");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} line in {text:?}"))
            .to_owned()
    };
    (field("node"), field("public_key"), field("net_address"))
}

/// A running `switchboard run` with its net listener, and its stderr as a stream of lines.
struct Node {
    /// Held so the node is stopped when the test drops it.
    _running: common::Running,
    net_addr: String,
    stderr: mpsc::Receiver<String>,
}

fn run(home: &Path, args: &[&str]) -> Node {
    let mut running = common::run_node(home, args, Stdio::piped());
    assert!(running.url.starts_with("ws://"), "{}", running.url);
    let line = running.next_line();
    let net_addr = line
        .strip_prefix("net listening on ")
        .unwrap_or_else(|| panic!("expected the net line, got {line:?}"))
        .to_owned();
    let (tx, stderr) = mpsc::channel();
    let err = running.child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Node {
        _running: running,
        net_addr,
        stderr,
    }
}

impl Node {
    /// Waits for a log line containing every one of `needles`.
    fn expect_log(&self, needles: &[&str]) {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .stderr
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no log line with {needles:?} in time"));
            if needles.iter().all(|n| line.contains(n)) {
                return;
            }
        }
    }
}

#[test]
fn id_makes_the_key_once_and_prints_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let (node, key, net) = id(&home);
    assert_eq!(node, "local.os");
    assert_eq!(key.len(), 64);
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
    assert!(net.starts_with("none"), "{net}");
    let mode = std::fs::metadata(home.join("net_key"))
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(id(&home).1, key, "the same key every time");
}

#[test]
fn two_nodes_link_with_config_toml_on_one_side_and_flags_on_the_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (alice_home, bob_home) = (dir.path().join("alice"), dir.path().join("bob"));
    let (_, alice_key, _) = id(&alice_home);
    let (_, bob_key, _) = id(&bob_home);
    std::fs::write(
        alice_home.join("config.toml"),
        format!(
            "node = \"alice.os\"\nnet_bind = \"127.0.0.1:0\"\n\n\
             [[peer]]\nname = \"bob.os\"\npublic_key = \"{bob_key}\"\ntrust_pushes = true\n"
        ),
    )
    .expect("config.toml");
    let (node, _, net) = id(&alice_home);
    assert_eq!((node.as_str(), net.as_str()), ("alice.os", "127.0.0.1:0"));

    let alice = run(&alice_home, &[]);
    let peer = format!("name=alice.os,key={alice_key},address={}", alice.net_addr);
    let bob = run(
        &bob_home,
        &[
            "--node",
            "bob.os",
            "--net-bind",
            "127.0.0.1:0",
            "--peer",
            &peer,
        ],
    );
    alice.expect_log(&["link up", "bob.os"]);
    bob.expect_log(&["link up", "alice.os"]);
}

#[test]
fn a_bad_peer_flag_is_one_clear_line() {
    let out = Command::new(BIN)
        .args(["run", "--peer", "name=bob.os,key=nothex"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--peer"), "{err}");
}
