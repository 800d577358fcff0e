//! Running a browser driver (`browser/*.mjs`, headless Chromium through playwright-core) from a
//! Rust test. A driver prints one JSON line on success, the last line of its stdout; anything
//! else fails the test with the driver's stderr.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// The repository's `browser/` directory.
pub fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../browser")
}

/// Where drivers save screenshots: `target/screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Runs `node browser/<script> <args…>` for at most `limit`, and returns its JSON result.
pub async fn run_driver(script: &str, args: &[String], limit: Duration) -> Value {
    let dir = browser_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "browser drivers are not installed: run scripts/setup (scripts/test does)"
    );
    let mut command = tokio::process::Command::new("node");
    command
        .arg(dir.join(script))
        .args(args)
        .env("SCREENSHOT_DIR", screenshot_dir())
        .current_dir(&dir)
        .kill_on_drop(true);
    let output = tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {limit:?}"))
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{script} printed no JSON result ({e}):\n{stdout}\n{stderr}"))
}

#[derive(Debug)]
/// A browser driver run step by step: it prints a JSON line at each step and waits for a
/// line on stdin before going on, so the test can change the world (stop a node, start
/// another) between steps.
pub struct SteppedDriver {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    script: String,
}

impl SteppedDriver {
    /// Starts `node browser/<script> <args…>`.
    pub fn start(script: &str, args: &[String]) -> Self {
        use tokio::io::AsyncBufReadExt;
        let dir = browser_dir();
        assert!(
            dir.join("node_modules/playwright-core").is_dir(),
            "browser drivers are not installed: run scripts/setup (scripts/test does)"
        );
        let mut child = tokio::process::Command::new("node")
            .arg(dir.join(script))
            .args(args)
            .env("SCREENSHOT_DIR", screenshot_dir())
            .current_dir(&dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        Self {
            child,
            stdin,
            lines: tokio::io::BufReader::new(stdout).lines(),
            script: script.to_owned(),
        }
    }

    /// The next JSON line the driver prints, within `limit`.
    pub async fn next(&mut self, limit: Duration) -> Value {
        let line = tokio::time::timeout(limit, self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("{} printed nothing within {limit:?}", self.script))
            .expect("read the driver's stdout")
            .unwrap_or_else(|| panic!("{} ended early (its stderr is above)", self.script));
        serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "{} printed a line that is not JSON ({e}): {line}",
                self.script
            )
        })
    }

    /// Lets the driver go on past the step it waits at.
    pub async fn go_on(&mut self) {
        use tokio::io::AsyncWriteExt;
        self.stdin
            .write_all(b"go\n")
            .await
            .expect("write to the driver");
        self.stdin.flush().await.expect("flush");
    }

    /// Waits for the driver to exit, and checks it succeeded.
    pub async fn finish(mut self, limit: Duration) {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not finish within {limit:?}", self.script))
            .expect("wait for the driver");
        assert!(status.success(), "{} failed ({status})", self.script);
    }
}
