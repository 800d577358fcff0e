//! One configuration, through the real binary: `config.toml`, `SWITCHBOARD_*` variables and
//! flags in that order of strength, `switchboard config` saying where each value came from,
//! mistakes named with key, file and line, and `--check`'s exit codes.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::BIN;

/// `switchboard ARGS…` with `env` set and no other `SWITCHBOARD_*` variable.
fn switchboard(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("SWITCHBOARD_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run")
}

fn home_with(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.toml"), config).expect("config.toml");
    dir
}

fn text(home: &Path) -> &str {
    home.to_str().expect("utf8 path")
}

/// The `key = value  # layers` line `switchboard config` printed for `key`.
fn line_for<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no line for {key} in\n{out}"))
}

#[test]
fn flags_beat_variables_beat_the_file_beat_the_defaults() {
    let home = home_with(
        "max_connections = 10\nmailbox_capacity = 20\nclose_timeout_ms = 30\nallow_origins = [\"https://a.example\"]\n",
    );
    let out = switchboard(
        &[
            "config",
            "--home",
            text(home.path()),
            "--max-connections",
            "11",
            "--allow-origin",
            "https://c.example",
        ],
        &[
            ("SWITCHBOARD_MAX_CONNECTIONS", "12"),
            ("SWITCHBOARD_MAILBOX_CAPACITY", "21"),
            ("SWITCHBOARD_ALLOW_ORIGINS", "https://b.example"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let out = String::from_utf8(out.stdout).expect("utf8");
    let words = |key| line_for(&out, key).split_whitespace().collect::<Vec<_>>();
    assert_eq!(
        words("max_connections"),
        ["max_connections", "=", "11", "#", "flag"]
    );
    assert_eq!(
        words("mailbox_capacity"),
        ["mailbox_capacity", "=", "21", "#", "env"]
    );
    assert_eq!(
        words("close_timeout_ms"),
        ["close_timeout_ms", "=", "30", "#", "file"]
    );
    assert_eq!(
        words("register_timeout_ms"),
        ["register_timeout_ms", "=", "10000", "#", "default"]
    );
    assert_eq!(
        line_for(&out, "allow_origins"),
        "allow_origins = [\"https://a.example\", \"https://b.example\", \"https://c.example\"]  # file+env+flag"
    );
    assert!(out.contains("# tls_cert is not set"), "{out}");
    assert!(
        out.starts_with(&format!("# home: {} (flag)\n", home.path().display())),
        "{out}"
    );
}

#[test]
fn the_home_comes_from_switchboard_home_when_no_flag_names_it() {
    let home = home_with("node = \"from-file.os\"\n");
    let out = switchboard(&["config"], &[("SWITCHBOARD_HOME", text(home.path()))]);
    let out = String::from_utf8(out.stdout).expect("utf8");
    assert!(
        out.starts_with(&format!("# home: {} (env)\n", home.path().display())),
        "{out}"
    );
    assert_eq!(
        line_for(&out, "node")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["node", "=", "\"from-file.os\"", "#", "file"]
    );
}

#[test]
fn mistakes_name_the_key_the_file_and_the_line() {
    let home = home_with("node = \"a.os\"\n\nmax_connections = \"many\"\ncolour = \"red\"\n");
    let file = home.path().join("config.toml");
    for args in [
        vec!["config"],
        vec!["config", "--check"],
        vec!["run", "--bind", "127.0.0.1:0"],
    ] {
        let mut args = args.clone();
        args.extend(["--home", text(home.path())]);
        let out = switchboard(&args, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            stderr.contains(&format!(
                "{} line 3: `max_connections`: invalid type: string \"many\"",
                file.display()
            )),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("{} line 4: unknown key `colour`", file.display())),
            "{args:?}: {stderr}"
        );
    }
    // `--check` gives one reason a line.
    let out = switchboard(&["config", "--check", "--home", text(home.path())], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 2);
}

#[test]
fn check_exits_0_when_the_settings_are_good_and_1_with_the_reasons_when_not() {
    let home = home_with("node = \"a.os\"\ndrain_batch_size = 100\n");
    let out = switchboard(&["config", "--check", "--home", text(home.path())], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    assert!(out.stderr.is_empty());

    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("SWITCHBOARD_DRAIN_BATCH_SIZE", "0")],
            "drain_batch_size must be at least 1",
        ),
        (
            &[("SWITCHBOARD_MAX_CONNECTIONS", "lots")],
            "environment variable SWITCHBOARD_MAX_CONNECTIONS=\"lots\": invalid digit",
        ),
        (
            &[("SWITCHBOARD_MAX_CONECTIONS", "5")],
            "unknown environment variable SWITCHBOARD_MAX_CONECTIONS",
        ),
    ];
    for (env, says) in cases {
        let out = switchboard(&["config", "--check", "--home", text(home.path())], env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{env:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("switchboard: ") && stderr.contains(says),
            "{env:?}: {stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[tokio::test]
async fn a_limit_set_by_variable_reaches_the_running_node_and_logs_can_be_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let mut command = Command::new(BIN);
    command
        .args([
            "--log-format",
            "json",
            "run",
            "--bind",
            "127.0.0.1:0",
            "--home",
        ])
        .arg(&home)
        .env("SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS", "1")
        .stderr(Stdio::piped());
    let mut node = common::spawn_node(command);
    let mut stderr = std::io::BufReader::new(node.child.stderr.take().expect("stderr"));
    let mut first_log = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first_log).expect("a log line");
    let log: serde_json::Value = serde_json::from_str(&first_log).expect("a JSON log line");
    assert_eq!(log["level"], "INFO", "{log}");
    assert!(log["fields"]["message"].is_string(), "{log}");

    let (mut first, _) = tokio_tungstenite::connect_async(&node.url)
        .await
        .expect("connect");
    let token = {
        let out = switchboard(&["token", "--home", text(&home)], &[]);
        String::from_utf8(out.stdout)
            .expect("utf8")
            .trim()
            .to_owned()
    };
    let register = serde_json::json!({"auth_token": token, "target_process": "echo:echo:sys"});
    first
        .send(Message::text(register.to_string()))
        .await
        .expect("send");
    let reply = first.next().await.expect("reply").expect("frame");
    assert!(
        reply
            .to_text()
            .expect("text")
            .starts_with("{\"channel_id\":"),
        "{reply:?}"
    );

    let (mut second, _) = tokio_tungstenite::connect_async(&node.url)
        .await
        .expect("connect");
    let error = second.next().await.expect("error frame").expect("frame");
    let error: serde_json::Value =
        serde_json::from_str(error.to_text().expect("text")).expect("json");
    assert_eq!(error["error"]["code"], "too_many_connections_from_address");
    match second.next().await.expect("close").expect("frame") {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1013),
        other => panic!("expected close 1013, got {other:?}"),
    }
}
