//! `run --metrics-bind ADDR` and `metrics_bind` in config.toml: the internal port's line on
//! stdout, a probe answered on it, and a port already taken said on stderr.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::BIN;

/// `GET path` on `addr` with a plain socket: the status code and the body.
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the internal port");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the answer");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {response:?}"));
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

/// The address in `metrics listening on http://ADDR/metrics`.
fn metrics_addr(line: &str) -> String {
    line.strip_prefix("metrics listening on http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("expected the metrics line, got {line:?}"))
        .to_owned()
}

#[test]
fn the_flag_opens_the_internal_port_and_says_where() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = common::run_node(
        &dir.path().join("home"),
        &["--metrics-bind", "127.0.0.1:0"],
        Stdio::null(),
    );
    let addr = metrics_addr(&node.next_line());
    assert!(!addr.ends_with(":0"), "the real port is printed: {addr}");
    let (status, body) = get(&addr, "/health");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""status":"ok""#), "{body}");
    let (status, body) = get(&addr, "/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("switchboard_up 1"), "{body}");
}

#[test]
fn metrics_bind_in_config_toml_opens_it_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::write(home.join("config.toml"), "metrics_bind = \"127.0.0.1:0\"\n")
        .expect("config.toml");
    let mut node = common::run_node(&home, &[], Stdio::null());
    let addr = metrics_addr(&node.next_line());
    let (status, body) = get(&addr, "/ready");
    assert_eq!((status, body.as_str()), (200, r#"{"ready":true}"#));
}

#[test]
fn a_taken_port_or_a_bad_address_is_said_on_stderr() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args([
            "run",
            "--bind",
            "127.0.0.1:0",
            "--metrics-bind",
            &taken,
            "--home",
        ])
        .arg(dir.path().join("home"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot serve metrics on {taken}")),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing on stdout: {:?}", out.stdout);

    let out = Command::new(BIN)
        .args(["run", "--metrics-bind", "not-an-address", "--home"])
        .arg(dir.path().join("home"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--metrics-bind"), "{stderr}");
}

#[test]
fn the_variable_opens_it_and_config_shows_where_it_came_from() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let mut command = Command::new(BIN);
    command
        .args(["run", "--bind", "127.0.0.1:0", "--home"])
        .arg(&home)
        .env("SWITCHBOARD_METRICS_BIND", "127.0.0.1:0")
        .stderr(Stdio::null());
    let mut node = common::spawn_node(command);
    let addr = metrics_addr(&node.next_line());
    let (status, _) = get(&addr, "/health");
    assert_eq!(status, 200);

    let out = Command::new(BIN)
        .args(["config", "--home"])
        .arg(&home)
        .env("SWITCHBOARD_METRICS_BIND", "127.0.0.1:9100")
        .output()
        .expect("config");
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("metrics_bind = "))
        .unwrap_or_else(|| panic!("no metrics_bind line in\n{stdout}"));
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        ["metrics_bind", "=", "\"127.0.0.1:9100\"", "#", "env"]
    );
}
