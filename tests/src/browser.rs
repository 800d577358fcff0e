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
