//! Stopping a program: SIGTERM to its process group, and SIGKILL to the group if it has not
//! exited within its stop timeout. The program is its group's leader (it was started with
//! `process_group(0)`), so what it started itself is stopped with it.

use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Child;

/// Sends `signal` to the group led by `child`, if it has not been reaped yet.
pub fn signal_group(child: &Child, signal: Signal) {
    let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) else {
        return;
    };
    if let Err(error) = killpg(Pid::from_raw(pid), signal) {
        tracing::debug!(%error, ?signal, "cannot signal the program");
    }
}

/// Asks the program to stop, kills it after `timeout`, and returns how it ended.
pub async fn stop(child: &mut Child, timeout: Duration) -> std::io::Result<ExitStatus> {
    signal_group(child, Signal::SIGTERM);
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            tracing::warn!(
                timeout_ms = timeout.as_millis() as u64,
                "the program did not stop after SIGTERM; killing it"
            );
            signal_group(child, Signal::SIGKILL);
            child.wait().await
        }
    }
}
