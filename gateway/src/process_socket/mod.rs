//! The process socket: a program outside the node connects to `/process`, proves with a
//! process token which process it is, and is that process for as long as the connection
//! lives. The README's "Processes outside the node" is the wire; the headers are
//! `process_lib::remote::wire`'s.
//!
//! - [`hello`]: the first frame — the token, the id, and whether the id is free.
//! - [`reader`]: what the program sends — messages, pushes — done as the process, with
//!   malformed frames answered, counted, and after too many, the connection closed.
//! - [`pump`]: the one writer of the socket: the process's mailbox, and the node's answers.
//!
//! The connection is the process's life: its mailbox is installed in the process table when
//! the hello passes and removed when the connection ends, and then the channels bound to it
//! are closed with 1011 as for a crashed process.

pub mod hello;
pub mod pump;
pub mod reader;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use process_lib::remote::wire::ToProcess;
use process_lib::{KernelMessage, ProcessId, WsErrorCode};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as Frame;
use tracing::Instrument;

use crate::config::Config;
use crate::kernel::mailbox::{ByteBudget, Mailbox};
use crate::kernel::table::Claimed;
use crate::runtime::Runtime;
use crate::ws::admission::refuse;
use crate::ws::refusal::Refusal;
use crate::ws::register::NotRegistered;
use crate::ws::upgrade::WsStream;

/// What the node counts of its process sockets.
#[derive(Debug, Default)]
pub struct Counters {
    /// Frames from programs the node could not use.
    pub malformed_frames: AtomicU64,
    /// Answers to a program dropped because it was not reading them.
    pub dropped_answers: AtomicU64,
}

impl Counters {
    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The process socket's settings: frames up to twice the message limit are read (so one a
/// little over the limit can be answered and dropped rather than end the connection).
pub fn socket_config(config: &Config) -> WebSocketConfig {
    let limit = config.max_message_size.saturating_mul(2);
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(4 * 1024 * 1024)
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
}

/// Serves one connection on `/process`: the hello, then the process's life.
pub async fn serve(rt: Arc<Runtime>, mut ws: WsStream) {
    let Ok(_permit) = rt.connections.clone().try_acquire_owned() else {
        let refusal = Refusal::new(
            WsErrorCode::OverCapacity,
            "this node holds as many connections as it allows; try again later",
        );
        return refuse(&rt, ws, refusal).await;
    };
    let process = match hello::await_hello(&rt, &mut ws).await {
        Ok(process) => process,
        Err(NotRegistered::Refused(refusal)) => return refuse(&rt, ws, refusal).await,
        Err(NotRegistered::Gone) => return,
    };
    let (tx, inbox) = mpsc::channel(rt.config.mailbox_capacity);
    let budget = Arc::new(ByteBudget::new(rt.config.process_mailbox_bytes));
    let mailbox = Mailbox::with_budget(tx, budget.clone());
    if let Err(claimed) = rt.processes.claim_outside(process.clone(), mailbox.clone()) {
        let refusal = match claimed {
            Claimed::InNode => Refusal::new(
                WsErrorCode::ProcessInNode,
                format!("{process} runs inside this node; a program cannot be it"),
            ),
            Claimed::Taken => Refusal::new(
                WsErrorCode::ProcessTaken,
                format!("another connection is {process} now; try again when it has closed"),
            ),
        };
        return refuse(&rt, ws, refusal).await;
    }
    let span = tracing::info_span!("outside process", process = %process);
    live(&rt, ws, &process, inbox, budget)
        .instrument(span)
        .await;
    rt.processes.release_outside(&process, &mailbox);
    let closed = rt.channels.fail_bound_to(
        &process,
        WsErrorCode::ProcessRestarted,
        "the process's program disconnected from the node; reconnect",
    );
    tracing::info!(process = %process, closed, "the channels of a program that left were closed");
}

/// The process's life: greets the program, then reads and writes until the connection ends.
async fn live(
    rt: &Runtime,
    mut ws: WsStream,
    process: &ProcessId,
    inbox: mpsc::Receiver<KernelMessage>,
    budget: Arc<ByteBudget>,
) {
    let our = rt.address(process.clone());
    tracing::info!("a program connected as the process");
    let registered = ToProcess::Registered {
        our: our.clone(),
        max_message_size: rt.config.max_message_size,
    };
    let greeted = ws
        .send(Frame::text(
            serde_json::to_string(&registered).unwrap_or_default(),
        ))
        .await;
    if greeted.is_err() {
        return;
    }
    let (sink, stream) = ws.split();
    let (answers_tx, answers) = mpsc::channel(pump::ANSWERS);
    let pumping = tokio::spawn(pump::run(sink, inbox, budget, answers));
    let why = reader::run(rt, our, stream, answers_tx).await;
    let _ = tokio::time::timeout(rt.config.close_timeout, pumping).await;
    tracing::info!(%why, "the program's connection ended");
}
