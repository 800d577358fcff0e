//! The task behind a connection: it owns the socket, writes what the caller sends, hands
//! on what arrives, pings, and — when the socket is lost — reconnects with backoff, moving
//! round its URLs, re-registers, and reports every change of state.

use std::ops::ControlFlow;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use process_lib::WsErrorFrame;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;

use crate::error::ClientError;
use crate::events::{CloseInfo, ConnectionState, Received};
use crate::options::Options;
use crate::register::{self, Socket, Target};
use crate::rotation::Rotation;

/// Everything the driver task needs.
pub(crate) struct Driver {
    pub target: Target,
    /// The endpoint of the socket in use (or lost last).
    pub current: usize,
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
        let mut session = Session {
            ws,
            incoming: &self.incoming,
            interval,
            last_heard: Instant::now(),
            held: None,
        };
        loop {
            let step = tokio::select! {
                frame = session.ws.next() => session.on_frame(frame).await,
                message = self.outgoing.recv() => session.on_outgoing(message).await,
                _ = ping.tick() => session.on_ping_tick().await,
                () = self.closing.cancelled() => ControlFlow::Break(End::ByCaller),
            };
            if let ControlFlow::Break(end) = step {
                return end;
            }
        }
    }

    /// Tries again, round the URLs from the one after the lost one, until a socket
    /// registers, the caller closes (`Err(None)`), or it is hopeless (`Err(Some(why))`):
    /// attempts used up, or every URL refused for good.
    async fn reconnect(&mut self) -> Result<Socket, Option<ClientError>> {
        let Some(backoff) = self.options.reconnect.clone() else {
            return Err(Some(ClientError::Closed));
        };
        let mut rotation = Rotation::after(self.current, self.target.endpoints.len());
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if backoff.max_attempts.is_some_and(|max| attempt > max) {
                return Err(Some(ClientError::GaveUp(attempt - 1)));
            }
            let Some(at) = rotation.next() else {
                return Err(Some(ClientError::Closed));
            };
            let url = self.target.url(at).to_owned();
            let delay = backoff.delay(attempt, &mut rand::thread_rng());
            let _ = self.states.send(ConnectionState::Reconnecting {
                attempt,
                delay,
                url: url.clone(),
            });
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.closing.cancelled() => return Err(None),
            }
            let opened = tokio::select! {
                opened = register::open(&self.target, at, &self.options) => opened,
                () = self.closing.cancelled() => return Err(None),
            };
            match opened {
                Ok((ws, channel_id)) => {
                    self.current = at;
                    let _ = self
                        .states
                        .send(ConnectionState::Connected { channel_id, url });
                    return Ok(ws);
                }
                Err(error) if error.is_retryable() => {
                    tracing::debug!(attempt, %url, %error, "reconnection attempt failed");
                }
                Err(error) => {
                    rotation.refuse(at);
                    if !rotation.any_left() {
                        return Err(Some(error));
                    }
                    tracing::debug!(attempt, %url, %error, "refused for good; trying the others");
                }
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

/// One registered socket being served: what lasts from one frame to the next.
struct Session<'a> {
    ws: &'a mut Socket,
    incoming: &'a mpsc::Sender<Received>,
    interval: Duration,
    last_heard: Instant,
    /// The gateway sends an error frame right before it closes; it is held back one frame
    /// so that, if a close follows, it explains the close instead.
    held: Option<(String, WsErrorFrame)>,
}

impl Session<'_> {
    /// A frame arrived, or the socket ended.
    async fn on_frame(&mut self, frame: Option<Result<Message, WsError>>) -> ControlFlow<End> {
        self.last_heard = Instant::now();
        let frame = match frame {
            Some(Ok(frame)) => frame,
            Some(Err(_)) | None => return ControlFlow::Break(self.lost(1006, String::new())),
        };
        if let Message::Close(close) = &frame {
            let (code, reason) = close
                .as_ref()
                .map(|f| (u16::from(f.code), f.reason.to_string()))
                .unwrap_or((1005, String::new()));
            self.flush_close_reply().await;
            return ControlFlow::Break(self.lost(code, reason));
        }
        if let Some((text, _)) = self.held.take() {
            self.hand_on(Received::Text(text)).await?;
        }
        match frame {
            Message::Text(text) => {
                let text = text.to_string();
                match serde_json::from_str::<WsErrorFrame>(&text) {
                    Ok(error) => {
                        self.held = Some((text, error));
                        ControlFlow::Continue(())
                    }
                    Err(_) => self.hand_on(Received::Text(text)).await,
                }
            }
            Message::Binary(bytes) => self.hand_on(Received::Binary(bytes)).await,
            _ => ControlFlow::Continue(()),
        }
    }

    /// The caller sent a frame, or dropped every sender.
    async fn on_outgoing(&mut self, message: Option<Message>) -> ControlFlow<End> {
        let Some(message) = message else {
            return ControlFlow::Break(End::ByCaller);
        };
        if let Err(error) = self.ws.send(message).await {
            tracing::debug!(%error, "write failed; the connection is lost");
            return ControlFlow::Break(Self::lost_unexplained(String::new()));
        }
        ControlFlow::Continue(())
    }

    /// Time to ping, unless the server has been silent too long.
    async fn on_ping_tick(&mut self) -> ControlFlow<End> {
        if self.last_heard.elapsed() > self.interval * 2 {
            return ControlFlow::Break(Self::lost_unexplained("no answer to pings".to_owned()));
        }
        if self
            .ws
            .send(Message::Ping(Default::default()))
            .await
            .is_err()
        {
            return ControlFlow::Break(Self::lost_unexplained(String::new()));
        }
        ControlFlow::Continue(())
    }

    /// Hands a frame to the caller; ends the socket when nobody receives any more.
    async fn hand_on(&self, received: Received) -> ControlFlow<End> {
        match self.incoming.send(received).await {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(End::Abandoned),
        }
    }

    /// Answers the server's close (tungstenite queues the reply) and lets it flush.
    async fn flush_close_reply(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    /// The socket ended with `code`, explained by the held error frame if there is one.
    fn lost(&mut self, code: u16, reason: String) -> End {
        End::Lost(CloseInfo {
            code,
            reason,
            error: self.held.take().map(|(_, e)| e.error),
        })
    }

    /// The socket is gone with no close frame and no error frame to explain it.
    fn lost_unexplained(reason: String) -> End {
        End::Lost(CloseInfo {
            code: 1006,
            reason,
            error: None,
        })
    }
}
