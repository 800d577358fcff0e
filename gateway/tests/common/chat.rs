//! `switchboard chat` driven through a pipe, as a script would: lines typed on stdin, lines
//! read from stdout as they come.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use tokio::sync::mpsc;

use super::BIN;

const WAIT: Duration = Duration::from_secs(10);

/// A running `switchboard chat`.
pub struct ChatCli {
    /// The process.
    pub child: Child,
    /// Its stdin; dropped to send end of input.
    pub stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
}

impl ChatCli {
    /// Starts `switchboard chat ARGS`.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .arg("chat")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn switchboard chat");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
        }
    }

    /// Types `line` and Enter.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write");
        stdin.flush().expect("flush");
    }

    /// The next line the client prints.
    pub async fn line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.lines.recv())
            .await
            .expect("a line in time")
            .expect("the client is still printing")
    }

    /// Reads lines until one equals `want`; returns the lines before it.
    pub async fn until(&mut self, want: &str) -> Vec<String> {
        let mut before = Vec::new();
        for _ in 0..200 {
            let line = self.line().await;
            if line == want {
                return before;
            }
            before.push(line);
        }
        panic!("never printed {want:?}; printed {before:?}");
    }

    /// Closes stdin and waits for the exit code.
    pub async fn exit_code(mut self) -> i32 {
        drop(self.stdin.take());
        let status = tokio::task::spawn_blocking(move || self.child.wait())
            .await
            .expect("join")
            .expect("wait");
        status.code().unwrap_or(-1)
    }
}

impl Drop for ChatCli {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
