//! The task behind a connection: it owns the socket, writes what the caller sends, hands
//! on what arrives, pings, and — when the socket is lost — reconnects with backoff,
//! re-registers, and reports every change of state.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use process_lib::WsErrorFrame;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::error::ClientError;
use crate::events::{CloseInfo, ConnectionState, Received};
use crate::options::Options;
use crate::register::{self, Socket, Target};

/// Everything the driver task needs.
pub(crate) struct Driver {
    pub target: Target,
    pub options: Options,
    pub outgoing: mpsc::Receiver<Message>,
    pub incoming: mpsc::Sender<Received>,
    pub states: mpsc::UnboundedSender<ConnectionState>,
    pub closing: CancellationToken,
}

/// How one socket's life ended.
enum End {
    /// The caller closed the connection.
    ByCaller,
    /// The socket was lost or closed by the server.
    Lost(CloseInfo),
    /// The caller dropped its receiving end: nobody listens any more.
    Abandoned,
}

impl Driver {
    /// Runs until the connection is over for good.
    pub async fn run(mut self, mut ws: Socket) {
        loop {
            let close = match self.serve(&mut ws).await {
                End::ByCaller | End::Abandoned => {
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        let _ = ws.close(None).await;
                        while let Some(Ok(_)) = ws.next().await {}
                    })
                    .await;
                    return self.finish(None).await;
                }
                End::Lost(close) => close,
            };
            if self.options.reconnect.is_none() || !retryable(&close) {
                let received = Received::Close {
                    code: close.code,
                    reason: close.reason,
                    error: close.error,
                };
                return self.finish(Some(received)).await;
            }
            let _ = self.states.send(ConnectionState::Disconnected(close));
            match self.reconnect().await {
                Ok(socket) => ws = socket,
                Err(None) => return self.finish(None).await,
                Err(Some(error)) => return self.finish(Some(Received::Error(error))).await,
            }
        }
    }

    async fn finish(&self, last: Option<Received>) {
        if let Some(last) = last {
            let _ = self.incoming.send(last).await;
        }
        let _ = self.states.send(ConnectionState::Closed);
    }

    /// Serves one registered socket until it ends.
    async fn serve(&mut self, ws: &mut Socket) -> End {
        let interval = self.options.ping_interval;
        let mut ping = tokio::time::interval_at(Instant::now() + interval, interval);
        let mut last_heard = Instant::now();
        // The gateway sends an error frame right before it closes; it is held back one
        // frame so that, if a close follows, it explains the close instead.
        let mut held: Option<(String, WsErrorFrame)> = None;
        loop {
            tokio::select! {
                frame = ws.next() => {
                    last_heard = Instant::now();
                    let frame = match frame {
                        Some(Ok(frame)) => frame,
                        Some(Err(_)) | None => {
                            return End::Lost(CloseInfo {
                                code: 1006,
                                reason: String::new(),
                                error: held.map(|(_, e)| e.error),
                            })
                        }
                    };
                    if let Message::Close(close) = &frame {
                        let (code, reason) = close
                            .as_ref()
                            .map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((1005, String::new()));
                        // Answer the close (tungstenite queues the reply) and let it flush.
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            while let Some(Ok(_)) = ws.next().await {}
                        })
                        .await;
                        return End::Lost(CloseInfo { code, reason, error: held.map(|(_, e)| e.error) });
                    }
                    if let Some((text, _)) = held.take() {
                        if self.incoming.send(Received::Text(text)).await.is_err() {
                            return End::Abandoned;
                        }
                    }
                    let received = match frame {
                        Message::Text(text) => {
                            let text = text.to_string();
                            if let Ok(error) = serde_json::from_str::<WsErrorFrame>(&text) {
                                held = Some((text, error));
                                continue;
                            }
                            Received::Text(text)
                        }
                        Message::Binary(bytes) => Received::Binary(bytes),
                        _ => continue,
                    };
                    if self.incoming.send(received).await.is_err() {
                        return End::Abandoned;
                    }
                }
                message = self.outgoing.recv() => {
                    let Some(message) = message else {
                        return End::ByCaller;
                    };
                    if let Err(error) = ws.send(message).await {
                        tracing::debug!(%error, "write failed; the connection is lost");
                        return End::Lost(CloseInfo { code: 1006, reason: String::new(), error: None });
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > interval * 2 {
                        return End::Lost(CloseInfo {
                            code: 1006,
                            reason: "no answer to pings".to_owned(),
                            error: None,
                        });
                    }
                    if ws.send(Message::Ping(Default::default())).await.is_err() {
                        return End::Lost(CloseInfo { code: 1006, reason: String::new(), error: None });
                    }
                }
                () = self.closing.cancelled() => return End::ByCaller,
            }
        }
    }

    /// Tries again until a socket registers, the caller closes (`Err(None)`), or it is
    /// hopeless (`Err(Some(why))`).
    async fn reconnect(&mut self) -> Result<Socket, Option<ClientError>> {
        let Some(backoff) = self.options.reconnect.clone() else {
            return Err(Some(ClientError::Closed));
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if backoff.max_attempts.is_some_and(|max| attempt > max) {
                return Err(Some(ClientError::GaveUp(attempt - 1)));
            }
            let delay = backoff.delay(attempt, &mut rand::thread_rng());
            let _ = self
                .states
                .send(ConnectionState::Reconnecting { attempt, delay });
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.closing.cancelled() => return Err(None),
            }
            let opened = tokio::select! {
                opened = register::open(&self.target, &self.options) => opened,
                () = self.closing.cancelled() => return Err(None),
            };
            match opened {
                Ok((ws, channel_id)) => {
                    let _ = self.states.send(ConnectionState::Connected { channel_id });
                    return Ok(ws);
                }
                Err(error) if error.is_retryable() => {
                    tracing::debug!(attempt, %error, "reconnection attempt failed");
                }
                Err(error) => return Err(Some(error)),
            }
        }
    }
}

/// Whether a lost socket is worth reconnecting: not when the server closed it normally or
/// refused it for a reason that will not change.
fn retryable(close: &CloseInfo) -> bool {
    use process_lib::WsErrorCode::*;
    match &close.error {
        Some(error) => !matches!(
            error.code,
            Unauthorized | NoSuchProcess | EncryptionRequired | MalformedRegister
        ),
        None => close.code != 1000,
    }
}
