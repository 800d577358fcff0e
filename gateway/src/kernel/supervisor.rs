//! Supervision: each process runs as a tokio task; a panic or an error restarts it with
//! backoff, and the channels bound to the dead instance are closed with 1011.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use process_lib::host::{run_process, Host, ProcessContext};
use process_lib::{Address, ProcessId, WsErrorCode};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use super::mailbox::Mailbox;
use crate::runtime::Runtime;

/// The future a process runs as.
pub type ProcessFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

type Start = Arc<dyn Fn(Address) -> ProcessFuture + Send + Sync>;

/// How to start (and restart) one process.
#[derive(Clone)]
pub struct ProcessSpec {
    /// The id it runs under.
    pub id: ProcessId,
    /// Whether clients may open channels to it.
    pub accepts_websockets: bool,
    start: Start,
}

impl std::fmt::Debug for ProcessSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessSpec")
            .field("id", &self.id)
            .field("accepts_websockets", &self.accepts_websockets)
            .finish()
    }
}

impl ProcessSpec {
    /// A process `id` that runs `start(our_address)`; it accepts WebSockets.
    pub fn new<F, Fut>(id: ProcessId, start: F) -> Self
    where
        F: Fn(Address) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        Self {
            id,
            accepts_websockets: true,
            start: Arc::new(move |our| Box::pin(start(our))),
        }
    }

    /// Sets whether clients may open channels to the process.
    pub fn accepts_websockets(mut self, yes: bool) -> Self {
        self.accepts_websockets = yes;
        self
    }
}

const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A run this long counts as healthy, and resets the backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(10);

/// Installs the process and keeps it running until the node shuts down.
pub fn spawn(rt: &Arc<Runtime>, spec: ProcessSpec) {
    let (mailbox, inbox) = mpsc::channel(rt.config.mailbox_capacity);
    rt.processes.install(
        spec.id.clone(),
        Mailbox::new(mailbox),
        spec.accepts_websockets,
    );
    rt.telemetry.restarts.touch(spec.id.as_str());
    let rt2 = rt.clone();
    let span = tracing::info_span!("process", process = %spec.id);
    rt.tasks.spawn(supervise(rt2, spec, inbox).instrument(span));
}

async fn supervise(
    rt: Arc<Runtime>,
    spec: ProcessSpec,
    mut inbox: mpsc::Receiver<process_lib::KernelMessage>,
) {
    let our = rt.address(spec.id.clone());
    let mut backoff = FIRST_BACKOFF;
    loop {
        let context = Arc::new(ProcessContext::new(
            our.clone(),
            inbox,
            rt.clone() as Arc<dyn Host>,
        ));
        let started = Instant::now();
        let task = tokio::spawn(run_process(context, (spec.start)(our.clone())));
        let abort = task.abort_handle();
        let outcome = tokio::select! {
            outcome = task => outcome,
            () = rt.shutdown.cancelled() => {
                abort.abort();
                return;
            }
        };
        let why = match outcome {
            Ok(Ok(())) => {
                tracing::info!("process finished");
                rt.processes.remove(&spec.id);
                rt.channels.fail_bound_to(
                    &spec.id,
                    WsErrorCode::ProcessRestarted,
                    "the process has stopped",
                );
                return;
            }
            Ok(Err(error)) => {
                tracing::error!(%error, "process failed; restarting");
                "the process failed and was restarted; reconnect"
            }
            Err(join) if join.is_panic() => {
                let panic = panic_message(join.into_panic());
                tracing::error!(%panic, "process panicked; restarting");
                "the process crashed and was restarted; reconnect"
            }
            Err(_) => return,
        };
        rt.telemetry.restarts.add(spec.id.as_str());
        let closed = rt
            .channels
            .fail_bound_to(&spec.id, WsErrorCode::ProcessRestarted, why);
        tracing::info!(closed, ?backoff, "channels of the dead instance closed");
        // The new instance's mailbox is in place at once, so clients that register during
        // the backoff are queued for it, not refused.
        let (mailbox, next_inbox) = mpsc::channel(rt.config.mailbox_capacity);
        rt.processes.install(
            spec.id.clone(),
            Mailbox::new(mailbox),
            spec.accepts_websockets,
        );
        inbox = next_inbox;
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = rt.shutdown.cancelled() => return,
        }
        backoff = if started.elapsed() >= HEALTHY_RUN {
            FIRST_BACKOFF
        } else {
            (backoff * 2).min(MAX_BACKOFF)
        };
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}
