//! The caller's side of a connection: [`Connection`] receives and closes; [`Sender`], of
//! which a connection can hand out clones, sends from any task.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::driver::Driver;
use crate::error::ClientError;
use crate::events::{ConnectionState, Received};
use crate::options::Options;
use crate::register::{self, Endpoint, Socket, Target};
use crate::rotation::Rotation;
use crate::tls;

/// Frames that may wait to be written (for instance while reconnecting).
const OUTGOING_QUEUE: usize = 1024;
/// Received frames that may wait for `receive()`; past this the socket is not read.
const INCOMING_QUEUE: usize = 1024;

/// Sends frames on a connection; cheap to clone, usable from any task. Frames sent while the
/// connection is reconnecting wait and go out on the new socket.
#[derive(Clone, Debug)]
pub struct Sender {
    outgoing: mpsc::Sender<Message>,
}

impl Sender {
    /// Sends a text frame.
    pub async fn send_text(&self, text: impl Into<String>) -> Result<(), ClientError> {
        self.send(Message::text(text.into())).await
    }

    /// Sends a binary frame.
    pub async fn send_binary(&self, bytes: impl Into<bytes::Bytes>) -> Result<(), ClientError> {
        self.send(Message::Binary(bytes.into())).await
    }

    /// Sends `value` as a JSON text frame.
    pub async fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), ClientError> {
        self.send_text(serde_json::to_string(value)?).await
    }

    async fn send(&self, message: Message) -> Result<(), ClientError> {
        self.outgoing
            .send(message)
            .await
            .map_err(|_| ClientError::Closed)
    }
}

/// A registered connection to a process.
#[derive(Debug)]
pub struct Connection {
    channel_id: u32,
    sender: Sender,
    incoming: mpsc::Receiver<Received>,
    states: Option<mpsc::UnboundedReceiver<ConnectionState>>,
    closing: CancellationToken,
    driver: Option<JoinHandle<()>>,
}

/// Connects to `url` (`ws://host:port/` or `wss://host:port/`), registers to
/// `target_process` with `token`, and returns the connection, with the default [`Options`]
/// (reconnection on, to `url` alone).
pub async fn connect(
    url: &str,
    token: &str,
    target_process: &str,
) -> Result<Connection, ClientError> {
    connect_with(url, token, target_process, Options::default()).await
}

/// [`connect`] with the given options: with [`Options::other_urls`], to the first of `url`
/// and those that registers, moving between them when a socket is lost.
pub async fn connect_with(
    url: &str,
    token: &str,
    target_process: &str,
    options: Options,
) -> Result<Connection, ClientError> {
    let process = target_process
        .parse()
        .map_err(|reason| ClientError::InvalidProcess {
            given: target_process.to_owned(),
            reason,
        })?;
    let urls: Vec<&str> = std::iter::once(url)
        .chain(options.other_urls.iter().map(String::as_str))
        .collect();
    let mut tls_config = None;
    let mut endpoints = Vec::with_capacity(urls.len());
    for url in urls {
        let tls = if tls::is_tls_url(url) {
            if tls_config.is_none() {
                let config = tls::client_config(options.ca_pem.as_deref()).map_err(|source| {
                    ClientError::Tls {
                        url: url.to_owned(),
                        source,
                    }
                })?;
                tls_config = Some(config);
            }
            tls_config.clone()
        } else {
            None
        };
        endpoints.push(Endpoint {
            url: url.to_owned(),
            tls,
        });
    }
    let target = Target {
        endpoints,
        token: token.to_owned(),
        process,
    };
    let (ws, channel_id, current) = open_first(&target, &options).await?;
    let (out_tx, outgoing) = mpsc::channel(OUTGOING_QUEUE);
    let (incoming_tx, incoming) = mpsc::channel(INCOMING_QUEUE);
    let (states_tx, states) = mpsc::unbounded_channel();
    let _ = states_tx.send(ConnectionState::Connected {
        channel_id,
        url: target.url(current).to_owned(),
    });
    let closing = CancellationToken::new();
    let driver = Driver {
        target,
        current,
        options,
        outgoing,
        incoming: incoming_tx,
        states: states_tx,
        closing: closing.clone(),
    };
    let driver = tokio::spawn(driver.run(ws));
    Ok(Connection {
        channel_id,
        sender: Sender { outgoing: out_tx },
        incoming,
        states: Some(states),
        closing,
        driver: Some(driver),
    })
}

/// Tries every URL once, in order, until one registers. When none does, the error is the
/// last refusal that will not change, if any URL refused so, else the last URL's error.
async fn open_first(
    target: &Target,
    options: &Options,
) -> Result<(Socket, u32, usize), ClientError> {
    let mut rotation = Rotation::from_start(target.endpoints.len());
    let mut permanent = None;
    let mut last = None;
    for _ in 0..target.endpoints.len() {
        let Some(at) = rotation.next() else { break };
        match register::open(target, at, options).await {
            Ok((ws, channel_id)) => return Ok((ws, channel_id, at)),
            Err(error) => {
                tracing::debug!(url = target.url(at), %error, "cannot open");
                if error.is_retryable() {
                    last = Some(error);
                } else {
                    permanent = Some(error);
                }
            }
        }
    }
    Err(permanent.or(last).unwrap_or(ClientError::Closed))
}

impl Connection {
    /// The channel id of the first registration.
    pub fn channel_id(&self) -> u32 {
        self.channel_id
    }

    /// A handle that sends on this connection from any task.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// Every change of state, from `Connected` on, as it happens. Only the first call
    /// returns the stream.
    pub fn take_states(&mut self) -> Option<mpsc::UnboundedReceiver<ConnectionState>> {
        self.states.take()
    }

    /// Sends a text frame.
    pub async fn send_text(&self, text: impl Into<String>) -> Result<(), ClientError> {
        self.sender.send_text(text).await
    }

    /// Sends a binary frame.
    pub async fn send_binary(&self, bytes: impl Into<bytes::Bytes>) -> Result<(), ClientError> {
        self.sender.send_binary(bytes).await
    }

    /// Sends `value` as a JSON text frame.
    pub async fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), ClientError> {
        self.sender.send_json(value).await
    }

    /// The next thing that happens: a frame, the close, or an error. After the end it keeps
    /// returning `Error(Closed)`.
    pub async fn receive(&mut self) -> Received {
        self.incoming
            .recv()
            .await
            .unwrap_or(Received::Error(ClientError::Closed))
    }

    /// [`Connection::receive`], waiting at most `limit`.
    pub async fn receive_timeout(&mut self, limit: Duration) -> Result<Received, ClientError> {
        tokio::time::timeout(limit, self.receive())
            .await
            .map_err(|_| ClientError::Timeout(limit))
    }

    /// Closes the connection (a normal close, 1000) and waits for its task to end.
    pub async fn close(mut self) {
        self.closing.cancel();
        if let Some(driver) = self.driver.take() {
            let _ = driver.await;
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.closing.cancel();
    }
}
