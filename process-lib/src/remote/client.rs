//! [`run`]: connect to a node's process socket, say hello, and run a process function as
//! that process until it returns or the connection ends.
//!
//! Three parts share the socket: the process itself (in the caller's task, with a
//! [`SocketHost`]), a reader task that turns the node's frames into mailbox messages, and a
//! writer task that sends what the host queued, flushing once per batch.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::socket_host::{Frames, SocketHost};
use super::wire::{Envelope, Hello, ToProcess};
use crate::host::{run_process, Host, ProcessContext};
use crate::http::WsErrorCode;
use crate::message::KernelMessage;
use crate::Address;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Messages that may wait for the process to read them; past this the reader stops reading
/// the socket, and the node's side of the mailbox fills.
const MAILBOX: usize = 1024;
/// Headers and blobs that may wait for the writer; past this a send fails at once.
const OUTBOX: usize = 16 * 1024;
/// How long the writer may take to say goodbye when the process returns.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a process outside the node stopped, or never started.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The WebSocket connection could not be made.
    #[error("cannot connect to the node: {0}")]
    Connect(String),
    /// The node refused the hello (its error frame and close code).
    #[error("the node refused: {code:?}: {message}")]
    Refused {
        /// The error code.
        code: WsErrorCode,
        /// The node's sentence.
        message: String,
        /// The close code that followed, if one came.
        close_code: Option<u16>,
    },
    /// The node's answer to the hello is not what the wire says.
    #[error("the node's answer is not understood: {0}")]
    Protocol(String),
    /// The connection ended while the process ran; the process was dropped.
    #[error("the connection to the node closed ({code:?}): {reason}")]
    Closed {
        /// The close code, when the node sent one.
        code: Option<u16>,
        /// The close reason, or what broke.
        reason: String,
    },
}

/// Connects to the process socket at `url` (`ws://host:port/process`) with a process token,
/// and runs `process(our)` as that process until it returns (its output is returned) or the
/// connection ends (`RemoteError::Closed`, and the process is dropped).
pub async fn run<F, Fut>(url: &str, token: &str, process: F) -> Result<Fut::Output, RemoteError>
where
    F: FnOnce(Address) -> Fut,
    Fut: Future,
{
    let (socket, our) = connect(url, token).await?;
    let (writer, reader) = socket.split();
    let (out_tx, out_rx) = mpsc::channel(OUTBOX);
    let (mailbox_tx, mailbox_rx) = mpsc::channel(MAILBOX);
    let host = Arc::new(SocketHost::new(our.clone(), out_tx));
    let (finish_tx, finish_rx) = oneshot::channel();
    // Both tasks end with this call, however it ends (even dropped): they own the socket.
    let mut writing = AbortOnDrop(tokio::spawn(write_loop(writer, out_rx, finish_rx)));
    let mut reading = AbortOnDrop(tokio::spawn(read_loop(reader, mailbox_tx, host.clone())));
    let context = Arc::new(ProcessContext::new(
        our.clone(),
        mailbox_rx,
        host as Arc<dyn Host>,
    ));
    let running = run_process(context, process(our));
    tokio::select! {
        output = running => {
            reading.0.abort();
            let _ = finish_tx.send(());
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, &mut writing.0).await;
            Ok(output)
        }
        ended = &mut reading.0 => {
            Err(ended.unwrap_or_else(|e| RemoteError::Closed {
                code: None,
                reason: e.to_string(),
            }))
        }
    }
}

/// A task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Opens the socket, sends the hello and reads the node's answer.
async fn connect(url: &str, token: &str) -> Result<(Socket, Address), RemoteError> {
    let config = WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(|e| RemoteError::Connect(e.to_string()))?;
    let hello = Hello {
        auth_token: token.to_owned(),
        process: None,
    };
    let hello = serde_json::to_string(&hello).unwrap_or_default();
    socket
        .send(Frame::text(hello))
        .await
        .map_err(|e| RemoteError::Connect(e.to_string()))?;
    let answer = match socket.next().await {
        Some(Ok(Frame::Text(text))) => text,
        Some(Ok(other)) => return Err(RemoteError::Protocol(format!("{other:?}"))),
        Some(Err(e)) => return Err(RemoteError::Connect(e.to_string())),
        None => return Err(RemoteError::Connect("the node closed the socket".into())),
    };
    match serde_json::from_str::<ToProcess>(&answer) {
        Ok(ToProcess::Registered { our, .. }) => Ok((socket, our)),
        Ok(ToProcess::Error(error)) => {
            let close_code = loop {
                match socket.next().await {
                    Some(Ok(Frame::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                    Some(Ok(_)) => continue,
                    _ => break None,
                }
            };
            Err(RemoteError::Refused {
                code: error.code,
                message: error.message,
                close_code,
            })
        }
        _ => Err(RemoteError::Protocol(answer.to_string())),
    }
}

/// Sends what the host queues, flushing when the queue is empty; on `finish`, closes.
async fn write_loop(
    mut sink: SplitSink<Socket, Frame>,
    mut queue: mpsc::Receiver<Frames>,
    mut finish: oneshot::Receiver<()>,
) {
    loop {
        let next = tokio::select! {
            next = queue.recv() => next,
            _ = &mut finish => None,
        };
        let Some(mut frames) = next else { break };
        loop {
            if feed(&mut sink, frames).await.is_err() {
                return;
            }
            match queue.try_recv() {
                Ok(more) => frames = more,
                Err(_) => break,
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink
        .send(Frame::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "the process returned".into(),
        })))
        .await;
}

async fn feed(
    sink: &mut SplitSink<Socket, Frame>,
    frames: Frames,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    sink.feed(Frame::text(frames.header)).await?;
    if let Some(blob) = frames.blob {
        sink.feed(Frame::binary(blob)).await?;
    }
    Ok(())
}

/// Reads the node's frames until the connection ends, and says how it ended.
async fn read_loop(
    mut stream: SplitStream<Socket>,
    mailbox: mpsc::Sender<KernelMessage>,
    host: Arc<SocketHost>,
) -> RemoteError {
    let mut waiting_for_blob: Option<Envelope> = None;
    loop {
        let frame = match stream.next().await {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                return RemoteError::Closed {
                    code: None,
                    reason: e.to_string(),
                }
            }
            None => {
                return RemoteError::Closed {
                    code: None,
                    reason: "the socket ended".into(),
                }
            }
        };
        let message = match frame {
            Frame::Text(text) => {
                if let Some(envelope) = waiting_for_blob.take() {
                    tracing::warn!(id = envelope.id, "a message's blob did not follow it");
                }
                match serde_json::from_str::<ToProcess>(&text) {
                    Ok(ToProcess::Message(envelope)) if envelope.blob.is_some() => {
                        waiting_for_blob = Some(envelope);
                        continue;
                    }
                    Ok(ToProcess::Message(envelope)) => envelope.join(None),
                    Ok(other) => {
                        answer(&host, other);
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the node sent a header this process cannot read");
                        continue;
                    }
                }
            }
            Frame::Binary(bytes) => match waiting_for_blob.take() {
                Some(envelope) => envelope.join(Some(bytes)),
                None => {
                    tracing::warn!("the node sent a blob with no header before it");
                    continue;
                }
            },
            Frame::Close(frame) => {
                return RemoteError::Closed {
                    code: frame.as_ref().map(|f| u16::from(f.code)),
                    reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                }
            }
            Frame::Ping(_) | Frame::Pong(_) | Frame::Frame(_) => continue,
        };
        if mailbox.send(message).await.is_err() {
            return RemoteError::Closed {
                code: None,
                reason: "the process stopped reading".into(),
            };
        }
    }
}

/// Handles what the node says that is not a message for the process.
fn answer(host: &SocketHost, said: ToProcess) {
    match said {
        ToProcess::PushRefused {
            call: Some(_),
            failed,
        } => host.refused(&failed),
        ToProcess::PushRefused { call: None, failed } => {
            tracing::debug!(?failed, "pushes to another node were refused");
        }
        ToProcess::Undelivered { id, target, kind } => {
            tracing::debug!(id, %target, ?kind, "a message was not delivered");
        }
        ToProcess::Error(error) => {
            tracing::warn!(code = error.code.as_str(), message = %error.message, "the node refused a frame");
        }
        ToProcess::Registered { .. } | ToProcess::Message(_) => {}
    }
}
