//! The staggered drain: how a node lets its clients go when it is asked to stop.
//!
//! Closing ten thousand sockets at once sends ten thousand clients to reconnect in the same
//! instant. A drain instead marks the node as draining (the listener closes, a socket still
//! registering is told `going_away`), then fails the open channels with 1001 `going_away` a
//! batch at a time ([`DrainConfig`]). Each channel's writer sends what was already queued,
//! then the error frame and the close, and waits (bounded) for the client's close; then the
//! channel's process is sent `WebSocketClose`. The drain ends when every channel has ended
//! and every mailbox has been read, or at the deadline, whichever comes first.

use std::time::Duration;

use process_lib::WsErrorCode;
use tokio::time::Instant;

use super::channel::SHUTTING_DOWN;
use crate::config::DrainConfig;
use crate::runtime::Runtime;

/// How often the end of a drain looks whether the processes have read their mailboxes.
const MAILBOX_LOOK: Duration = Duration::from_millis(10);

/// How a drain went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainReport {
    /// Channels open when it began.
    pub channels: usize,
    /// Batches it closed them in.
    pub batches: usize,
    /// Whether everything ended before the deadline.
    pub completed: bool,
}

/// Drains the node's channels as `rt.config.drain` says. The node is left running, draining:
/// shutting it down is the caller's next step.
pub async fn drain(rt: &Runtime) -> DrainReport {
    let DrainConfig {
        batch_size,
        batch_interval,
        timeout,
    } = rt.config.drain;
    let deadline = Instant::now() + timeout;
    rt.draining.cancel();
    let ids = rt.channels.ids();
    tracing::info!(
        channels = ids.len(),
        batch_size,
        ?batch_interval,
        "draining: closing channels in batches"
    );
    let mut batches = 0;
    for batch in ids.chunks(batch_size.max(1)) {
        if batches > 0 {
            tokio::select! {
                () = tokio::time::sleep(batch_interval) => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        for &id in batch {
            // A channel that closed meanwhile is simply gone.
            if let Some(channel) = rt.channels.get(id) {
                channel.outbox.fail(WsErrorCode::GoingAway, SHUTTING_DOWN);
            }
        }
        batches += 1;
        tracing::debug!(batch = batches, closing = batch.len(), "drain batch");
    }
    rt.channel_tasks.close();
    let completed = tokio::time::timeout_at(deadline, async {
        rt.channel_tasks.wait().await;
        while !rt.processes.mailboxes_empty() {
            tokio::time::sleep(MAILBOX_LOOK).await;
        }
    })
    .await
    .is_ok();
    let report = DrainReport {
        channels: ids.len(),
        batches,
        completed,
    };
    if completed {
        tracing::info!(channels = report.channels, batches, "drain complete");
    } else {
        tracing::warn!(
            still_open = rt.channels.len(),
            ?timeout,
            "drain deadline passed; closing what is left at once"
        );
    }
    report
}
