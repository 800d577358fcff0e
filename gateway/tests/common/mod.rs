//! What the binary's tests share: starting `switchboard run` on port 0 and reading the
//! listening line it owes scripts, and stopping it when the test is done.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod chat;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// A running `switchboard run`; killed when dropped.
pub struct Running {
    /// The process.
    pub child: Child,
    /// `ws://…/` (or `wss://…/`) from the first line of stdout.
    pub url: String,
    /// The rest of stdout, for lines after the first.
    pub stdout: BufReader<ChildStdout>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// The next line on stdout, trimmed.
    pub fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("a stdout line");
        line.trim().to_owned()
    }
}

/// Starts `switchboard run --bind 127.0.0.1:0 --home HOME EXTRA…` with `stderr` as given,
/// and checks that stdout's first line is `listening on <url>` with the real port.
pub fn run_node(home: &Path, extra: &[&str], stderr: Stdio) -> Running {
    run_binary(Path::new(BIN), home, extra, stderr)
}

/// [`run_node`] with another binary built on the same command line.
pub fn run_binary(bin: &Path, home: &Path, extra: &[&str], stderr: Stdio) -> Running {
    let mut command = Command::new(bin);
    command
        .args(["run", "--bind", "127.0.0.1:0", "--home"])
        .arg(home)
        .args(extra)
        .stderr(stderr);
    spawn_node(command)
}

/// Starts `command` (a `switchboard … run …` with its port 0) with stdout piped and
/// `RUST_LOG=info`, and checks its listening line.
pub fn spawn_node(mut command: Command) -> Running {
    let mut child = command
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", command.get_program()));
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the listening line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("stdout's first line is {line:?}"))
        .to_owned();
    assert!(
        url.ends_with('/') && !url.ends_with(":0/"),
        "the real port is printed: {url}"
    );
    Running { child, url, stdout }
}
