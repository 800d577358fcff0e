//! Programs the node runs from `[[process]]` entries, through the real binary: the Python
//! SDK's echo and the JavaScript SDK's counter serve real WebSocket clients; a program killed
//! with SIGKILL closes its clients with 1011 and comes back; a program that ignores SIGTERM is
//! killed after its timeout and the node still exits 0; a command that does not exist is
//! logged and retried while the node serves. Needs `scripts/setup` (Python's websockets in
//! `target/python`, the JavaScript SDK's `ws`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::BIN;

/// How long any one wait may take.
const WAIT: Duration = Duration::from_secs(20);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

/// A `[[process]]` table running the Python echo example as `echo:echo:py`.
fn python_echo(extra: &str) -> String {
    let repo = repo();
    format!(
        "[[process]]\nid = \"echo:echo:py\"\ncommand = [\"python3\", {:?}]\nenv = {{ PYTHONPATH = {:?} }}\n{extra}\n",
        repo.join("sdk/python/examples/echo.py"),
        repo.join("target/python"),
    )
}

/// `switchboard run` on port 0 whose home's config.toml is `config`, with its log read
/// line by line.
struct Node {
    child: Child,
    url: String,
    token: String,
    log: mpsc::Receiver<String>,
    seen: Vec<String>,
    _home: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn start(config: &str) -> Self {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::write(home.path().join("config.toml"), config).expect("config");
        let mut child = Command::new(BIN)
            .args(["run", "--bind", "127.0.0.1:0", "--home"])
            .arg(home.path())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn switchboard");
        let (tx, log) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the listening line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("stdout's first line is {line:?}"))
            .to_owned();
        let out = Command::new(BIN)
            .arg("token")
            .arg("--home")
            .arg(home.path())
            .output()
            .expect("token");
        let token = String::from_utf8(out.stdout)
            .expect("utf8")
            .trim()
            .to_owned();
        Self {
            child,
            url,
            token,
            log,
            seen: Vec::new(),
            _home: home,
        }
    }

    /// The next log line (after those already waited past) that holds every one of `parts`.
    fn wait_log(&mut self, parts: &[&str]) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if parts.iter().all(|p| line.contains(p)) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line with {parts:?} within {WAIT:?}; the log:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The pid of the next program start the log reports for `process`.
    fn started_pid(&mut self, process: &str) -> i32 {
        let line = self.wait_log(&[&format!("process={process}"), "program started"]);
        line.split("pid=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|pid| pid.parse().ok())
            .unwrap_or_else(|| panic!("no pid in {line:?}"))
    }

    /// SIGTERM, then the exit code, waiting at most [`WAIT`].
    fn terminate(&mut self) -> Option<i32> {
        signal(self.child.id() as i32, "TERM");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // The rest of the log, for the assertions that follow.
                while let Ok(line) = self.log.recv_timeout(Duration::from_secs(2)) {
                    self.seen.push(line);
                }
                return status.code();
            }
            assert!(Instant::now() < deadline, "the node did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Registers to `process`, retrying while it is not there yet (`no_such_process`).
    async fn register(&self, process: &str) -> Ws {
        let deadline = Instant::now() + WAIT;
        loop {
            match try_register(&self.url, &self.token, process).await {
                Ok(ws) => return ws,
                Err(code) if code == "no_such_process" && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(code) => panic!("registering to {process}: {code}"),
            }
        }
    }
}

/// Sends a signal with the `kill` command.
fn signal(pid: i32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} {pid}");
}

/// Opens a channel to `process`, or says the refusal's error code.
async fn try_register(url: &str, token: &str, process: &str) -> Result<Ws, String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| e.to_string())?;
    let frame =
        serde_json::json!({"auth_token": token, "target_process": process, "encrypted": false});
    ws.send(Message::text(frame.to_string()))
        .await
        .map_err(|e| e.to_string())?;
    let reply = next(&mut ws).await;
    let reply: serde_json::Value =
        serde_json::from_str(reply.to_text().expect("text")).expect("json");
    if reply.get("channel_id").is_some() {
        return Ok(ws);
    }
    Err(reply["error"]["code"].as_str().unwrap_or("?").to_owned())
}

async fn next(ws: &mut Ws) -> Message {
    tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a frame in time")
        .expect("the socket is open")
        .expect("a frame")
}

async fn say(ws: &mut Ws, text: &str) -> String {
    ws.send(Message::text(text)).await.expect("send");
    next(ws).await.to_text().expect("text").to_owned()
}

#[tokio::test]
async fn the_python_echo_runs_as_a_process_and_answers_clients() {
    let mut node = Node::start(&python_echo(""));
    let pid = node.started_pid("echo:echo:py");
    let mut ws = node.register("echo:echo:py").await;
    assert_eq!(say(&mut ws, "hello, python").await, "hello, python");
    ws.send(Message::binary(vec![0u8, 1, 255]))
        .await
        .expect("send");
    assert_eq!(next(&mut ws).await, Message::binary(vec![0u8, 1, 255]));
    // The program's stdout is in the node's log, under its process id.
    node.wait_log(&[
        "process=echo:echo:py",
        "echo running as local.os@echo:echo:py",
        "stdout",
    ]);
    drop(ws);
    assert_eq!(node.terminate(), Some(0));
    let stopped = node.seen.iter().any(|l| l.contains("program stopped"));
    assert!(stopped, "{}", node.seen.join("\n"));
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the program is gone"
    );
}

#[tokio::test]
async fn the_javascript_counter_counts_for_each_connection() {
    let counter = repo().join("sdk/js/examples/counter.mjs");
    let mut node = Node::start(&format!(
        "[[process]]\nid = \"counter:counter:js\"\ncommand = [\"node\", {counter:?}]\n"
    ));
    let mut first = node.register("counter:counter:js").await;
    let mut second = node.register("counter:counter:js").await;
    assert_eq!(
        say(&mut first, r#"{"op":"add","by":2}"#).await,
        r#"{"count":2}"#
    );
    assert_eq!(
        say(&mut first, r#"{"op":"add","by":5}"#).await,
        r#"{"count":7}"#
    );
    assert_eq!(
        say(&mut second, r#"{"op":"add","by":-1}"#).await,
        r#"{"count":-1}"#
    );
    let refused = say(&mut first, r#"{"op":"multiply"}"#).await;
    assert_eq!(
        refused,
        r#"{"error":{"code":"unparsable","message":"expected {\"op\":\"add\",\"by\":N} or {\"op\":\"reset\"}"}}"#
    );
    assert_eq!(
        say(&mut first, r#"{"op":"add","by":1}"#).await,
        r#"{"count":8}"#
    );
    assert_eq!(say(&mut first, r#"{"op":"reset"}"#).await, r#"{"count":0}"#);
    node.wait_log(&["process=counter:counter:js", "counter running as"]);
    drop((first, second));
    assert_eq!(node.terminate(), Some(0));
}

#[tokio::test]
async fn a_killed_program_closes_its_clients_with_1011_and_comes_back() {
    let mut node = Node::start(&python_echo("restart = \"always\""));
    let pid = node.started_pid("echo:echo:py");
    let mut ws = node.register("echo:echo:py").await;
    assert_eq!(say(&mut ws, "before").await, "before");

    signal(pid, "KILL");
    let error = next(&mut ws).await;
    let error: serde_json::Value =
        serde_json::from_str(error.to_text().expect("text")).expect("json");
    assert_eq!(error["error"]["code"], "process_restarted", "{error}");
    match next(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1011),
        other => panic!("expected close 1011, got {other:?}"),
    }
    node.wait_log(&["process=echo:echo:py", "program failed", "signal: 9"]);

    let again = node.started_pid("echo:echo:py");
    assert_ne!(again, pid);
    let mut ws = node.register("echo:echo:py").await;
    assert_eq!(say(&mut ws, "after").await, "after");
    drop(ws);
    assert_eq!(node.terminate(), Some(0));
}

#[tokio::test]
async fn a_program_that_ignores_sigterm_is_killed_and_the_node_exits_0() {
    let script = "import signal, time\n\
                  signal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
                  print('ignoring SIGTERM', flush=True)\n\
                  time.sleep(600)\n";
    let mut node = Node::start(&format!(
        "[[process]]\nid = \"stubborn:test:sys\"\ncommand = [\"python3\", \"-c\", {script:?}]\nstop_timeout_secs = 1\n"
    ));
    let pid = node.started_pid("stubborn:test:sys");
    node.wait_log(&["process=stubborn:test:sys", "ignoring SIGTERM"]);
    assert_eq!(node.terminate(), Some(0));
    let log = node.seen.join("\n");
    assert!(
        log.contains("the program did not stop after SIGTERM; killing it"),
        "{log}"
    );
    assert!(log.contains("status=signal: 9"), "{log}");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the program is gone"
    );
}

#[tokio::test]
async fn a_command_that_does_not_exist_is_retried_while_the_node_serves() {
    let mut node = Node::start(
        "[[process]]\nid = \"missing:test:sys\"\ncommand = [\"/nonexistent/program\", \"--flag\"]\n",
    );
    for _ in 0..2 {
        node.wait_log(&[
            "process=missing:test:sys",
            "cannot start the program",
            "/nonexistent/program",
            "No such file or directory",
        ]);
        node.wait_log(&["process=missing:test:sys", "starting the program again"]);
    }
    let mut ws = node.register("echo:echo:sys").await;
    assert_eq!(say(&mut ws, "still serving").await, "still serving");
    drop(ws);
    assert_eq!(node.terminate(), Some(0));
}

#[test]
fn a_bad_process_table_stops_run_with_one_line_naming_it() {
    let cases = [
        (
            "[[process]]\nid = \"a:b:c\"\ncommand = []\n",
            "[[process]] number 1: `command` must name a program",
        ),
        (
            "[[process]]\nid = \"echo:echo:sys\"\ncommand = [\"true\"]\n",
            "[[process]] echo:echo:sys names a process this node runs inside itself",
        ),
    ];
    for (config, says) in cases {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::write(home.path().join("config.toml"), config).expect("config");
        let out = Command::new(BIN)
            .args(["run", "--bind", "127.0.0.1:0", "--home"])
            .arg(home.path())
            .env("RUST_LOG", "off")
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("switchboard: "), "{stderr}");
        assert!(stderr.contains(says), "{says}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}
