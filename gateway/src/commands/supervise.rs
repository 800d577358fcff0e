//! One program's life: start it, wait for it to end (or for the node to stop), and start
//! it again when its restart policy says so, after a [`Backoff`] wait. A program that
//! cannot be started (no such file, no permission) counts as a failed run: it is logged and
//! retried like one, and never stops the node.

use std::process::{ExitStatus, Stdio};

use tokio::process::{Child, Command};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::backoff::Backoff;
use super::{output, stop, Launch, ENV_NODE, ENV_PROCESS, ENV_TOKEN, ENV_URL};
use crate::config::CommandConfig;

/// Runs `command` until the node stops, or until it ended and its policy says not again.
pub async fn supervise(command: CommandConfig, launch: Launch, shutdown: CancellationToken) {
    let span = tracing::info_span!("command", process = %command.id);
    run(command, launch, shutdown).instrument(span).await;
}

async fn run(command: CommandConfig, launch: Launch, shutdown: CancellationToken) {
    let mut backoff = Backoff::default();
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let started = Instant::now();
        let succeeded = match spawn(&command, &launch) {
            Err(error) => {
                tracing::warn!(program = %command.command[0], %error, "cannot start the program");
                false
            }
            Ok(mut child) => {
                tracing::info!(pid = child.id(), "program started");
                tokio::select! {
                    status = child.wait() => ended(status),
                    _ = shutdown.cancelled() => {
                        match stop::stop(&mut child, command.stop_timeout).await {
                            Ok(status) => tracing::info!(%status, "program stopped"),
                            Err(error) => tracing::warn!(%error, "cannot wait for the program"),
                        }
                        return;
                    }
                }
            }
        };
        if !command.restart.again(succeeded) {
            tracing::info!(restart = ?command.restart, "not starting the program again");
            return;
        }
        let wait = backoff.next(started.elapsed());
        tracing::info!(
            wait_ms = wait.as_millis() as u64,
            "starting the program again"
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Logs how a run ended, and says whether it succeeded.
fn ended(status: std::io::Result<ExitStatus>) -> bool {
    match status {
        Ok(status) if status.success() => {
            tracing::info!(%status, "program exited");
            true
        }
        Ok(status) => {
            tracing::warn!(%status, "program failed");
            false
        }
        Err(error) => {
            tracing::warn!(%error, "cannot wait for the program");
            false
        }
    }
}

/// Starts one run, with its output forwarded to the log.
fn spawn(command: &CommandConfig, launch: &Launch) -> std::io::Result<Child> {
    let mut process = Command::new(&command.command[0]);
    process
        .args(&command.command[1..])
        .env(ENV_URL, &launch.url)
        .env(ENV_TOKEN, (launch.mint_token)(&command.id))
        .env(ENV_PROCESS, command.id.to_string())
        .env(ENV_NODE, &launch.node)
        .envs(&command.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = &command.cwd {
        process.current_dir(cwd);
    }
    let mut child = process.spawn()?;
    let span = tracing::Span::current();
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(output::forward(stdout, "stdout").instrument(span.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(output::forward(stderr, "stderr").instrument(span));
    }
    Ok(child)
}
