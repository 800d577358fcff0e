//! The process socket's writer: the only task that writes to the socket. It sends the
//! process's mailbox as headers and blob frames, and the node's own answers (refusals,
//! errors, bounces), answers first; it flushes once per batch. Each message gives its bytes
//! back to the mailbox's budget once it is handed to the socket.

use std::sync::Arc;

use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use process_lib::remote::wire::{Envelope, ToProcess};
use process_lib::KernelMessage;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::kernel::mailbox::{weight, ByteBudget};
use crate::ws::refusal::Refusal;
use crate::ws::upgrade::WsStream;

/// Answers that may wait for the writer; past this they are dropped and counted.
pub const ANSWERS: usize = 1024;
/// Messages written before a flush, at most.
const BATCH: usize = 256;

type Sink = SplitSink<WsStream, Frame>;
type WsResult = Result<(), tokio_tungstenite::tungstenite::Error>;

/// What the node itself tells the program.
#[derive(Debug)]
pub enum Answer {
    /// A header of its own (a push's refusal, an undelivered message, a frame's error).
    Said(ToProcess),
    /// A message for the process outside its mailbox (a bounce of what it sent).
    Message(KernelMessage),
    /// The last word: the error frame and the close.
    Close(Refusal),
}

/// Writes until the answers' sender is dropped (the reader ended), a close is asked for, or
/// the socket breaks.
pub async fn run(
    mut sink: Sink,
    mut inbox: mpsc::Receiver<KernelMessage>,
    budget: Arc<ByteBudget>,
    mut answers: mpsc::Receiver<Answer>,
) {
    loop {
        let written = tokio::select! {
            biased;
            answer = answers.recv() => match answer {
                Some(Answer::Close(refusal)) => {
                    let _ = sink.feed(refusal.error_frame()).await;
                    let _ = sink.send(refusal.close_frame()).await;
                    return;
                }
                Some(answer) => feed_answer(&mut sink, answer).await,
                None => return,
            },
            message = inbox.recv() => match message {
                Some(message) => feed_message(&mut sink, message, &budget).await,
                None => return,
            },
        };
        if written.is_err() || drain(&mut sink, &mut inbox, &budget).await.is_err() {
            return;
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}

/// Writes what else waits in the mailbox now, up to a batch.
async fn drain(
    sink: &mut Sink,
    inbox: &mut mpsc::Receiver<KernelMessage>,
    budget: &ByteBudget,
) -> WsResult {
    for _ in 0..BATCH {
        match inbox.try_recv() {
            Ok(message) => feed_message(sink, message, budget).await?,
            Err(_) => break,
        }
    }
    Ok(())
}

async fn feed_message(sink: &mut Sink, message: KernelMessage, budget: &ByteBudget) -> WsResult {
    let weight = weight(&message);
    let fed = feed_envelope(sink, message).await;
    budget.give_back(weight);
    fed
}

async fn feed_answer(sink: &mut Sink, answer: Answer) -> WsResult {
    match answer {
        Answer::Said(said) => {
            sink.feed(Frame::text(
                serde_json::to_string(&said).unwrap_or_default(),
            ))
            .await
        }
        Answer::Message(message) => feed_envelope(sink, message).await,
        Answer::Close(_) => Ok(()),
    }
}

async fn feed_envelope(sink: &mut Sink, message: KernelMessage) -> WsResult {
    let (envelope, blob) = Envelope::split(message);
    let header = serde_json::to_string(&ToProcess::Message(envelope)).unwrap_or_default();
    sink.feed(Frame::text(header)).await?;
    if let Some(blob) = blob {
        sink.feed(Frame::binary(blob.bytes)).await?;
    }
    Ok(())
}
