//! The password as the command line meets it: `switchboard passwd`, the password a fresh home
//! gets (shown once, on stderr, so stdout's first line stays `listening on …`), logging in
//! with it, and the browser/TLS flags of `run`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::{Running, BIN};

fn start(home: &Path, extra: &[&str]) -> Running {
    common::run_node(home, extra, Stdio::piped())
}

/// Stops the node with SIGTERM and returns everything it wrote on stderr.
fn stop(mut node: Running) -> String {
    let pid = node.child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    let mut stderr = String::new();
    if let Some(mut pipe) = node.child.stderr.take() {
        pipe.read_to_string(&mut stderr).expect("stderr");
    }
    let _ = node.child.wait();
    stderr
}

/// `POST /login` with `password`; the status code.
fn login(url: &str, password: &str) -> u16 {
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned();
    let body = serde_json::json!({ "password": password }).to_string();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    write!(
        stream,
        "POST /login HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"))
}

fn passwd(home: &Path, stdin: &str) -> std::process::Output {
    let mut child = Command::new(BIN)
        .arg("passwd")
        .arg("--home")
        .arg(home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn passwd");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("passwd output")
}

#[test]
fn a_fresh_home_gets_a_password_shown_once_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let mut node = start(&home, &[]);
    let mut stderr = BufReader::new(node.child.stderr.take().expect("stderr"));
    let mut password = None;
    for _ in 0..50 {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("stderr line") == 0 {
            break;
        }
        if let Some((_, pw)) = line.split_once("its login password is: ") {
            password = Some(pw.trim().to_owned());
            break;
        }
    }
    let password = password.expect("the generated password is printed on stderr");
    assert_eq!(login(&node.url, &password), 200);
    assert_eq!(login(&node.url, "not it"), 401);
    drop(stderr);
    drop(node);

    let hash = std::fs::read_to_string(home.join("password")).expect("hash file");
    assert!(hash.starts_with("$argon2id$") && !hash.contains(&password));

    // The second run has a password already: nothing is printed.
    let node = start(&home, &[]);
    let stderr = stop(node);
    assert!(!stderr.contains("password is"), "{stderr}");
}

#[test]
fn passwd_reads_stdin_and_the_node_takes_the_new_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let out = passwd(&home, "a new secret\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("password set"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(home.join("password"))
        .expect("hash file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let node = start(&home, &[]);
    assert_eq!(login(&node.url, "a new secret"), 200);
    assert_eq!(login(&node.url, "a new secret\n"), 401);
    // Changed while the node runs: the next login uses it.
    let out = passwd(&home, "another one\n");
    assert!(out.status.success());
    assert_eq!(login(&node.url, "another one"), 200);
    let stderr = stop(node);
    assert!(!stderr.contains("password is"), "{stderr}");

    let out = passwd(&home, "\n");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "switchboard: the password must not be empty",
        "{stderr}"
    );
}

fn fails_with_one_line(args: &[&str], code: i32, says: &str) {
    let out = Command::new(BIN).args(args).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line, got {stderr:?}");
    assert!(lines[0].contains(says), "{args:?}: {stderr}");
}

#[test]
fn tls_flags_serve_wss_and_bad_ones_say_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("cert");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("key");
    let (cert, key) = (cert.to_str().expect("utf8"), key.to_str().expect("utf8"));
    let home = dir.path().join("home");
    let node = start(&home, &["--tls-cert", cert, "--tls-key", key]);
    assert!(node.url.starts_with("wss://127.0.0.1:"), "{}", node.url);
    drop(node);

    let home = home.to_str().expect("utf8");
    let run = ["run", "--home", home, "--bind", "127.0.0.1:0"];
    fails_with_one_line(
        &[&run[..], &["--tls-cert", cert]].concat(),
        1,
        "--tls-cert and --tls-key go together",
    );
    fails_with_one_line(
        &[
            &run[..],
            &["--tls-cert", "/nonexistent.pem", "--tls-key", key],
        ]
        .concat(),
        1,
        "cannot read a certificate from /nonexistent.pem",
    );
    fails_with_one_line(
        &[&run[..], &["--tls-cert", key, "--tls-key", cert]].concat(),
        1,
        "cannot read",
    );
    fails_with_one_line(
        &[&run[..], &["--allow-origin", "app.example"]].concat(),
        1,
        "is not an origin",
    );
}

/// The status of a WebSocket upgrade of `/` carrying `origin` and the login `cookie`.
fn upgrade_status(url: &str, origin: &str, cookie: &str) -> u16 {
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    write!(
        stream,
        "GET / HTTP/1.1\r\nhost: {addr}\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\norigin: {origin}\r\ncookie: {cookie}\r\n\r\n"
    )
    .expect("write");
    let mut status_line = String::new();
    BufReader::new(stream)
        .read_line(&mut status_line)
        .expect("status line");
    status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {status_line:?}"))
}

#[test]
fn allowed_origins_given_to_run_are_remembered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let node = start(&home, &["--allow-origin", "http://app.test:3000/"]);
    let out = Command::new(BIN)
        .args(["token", "--home"])
        .arg(&home)
        .output()
        .expect("token");
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let cookie = format!("kinode-auth_local.os={token}");
    assert_eq!(
        upgrade_status(&node.url, "http://app.test:3000", &cookie),
        101
    );
    assert_eq!(
        upgrade_status(&node.url, "http://other.test:3000", &cookie),
        403
    );
    drop(node);

    let config = std::fs::read_to_string(home.join("config.toml")).expect("config.toml");
    assert!(config.contains("http://app.test:3000"), "{config}");
    // The next run, without the flag, still allows it.
    let node = start(&home, &[]);
    assert_eq!(
        upgrade_status(&node.url, "http://app.test:3000", &cookie),
        101
    );
}
