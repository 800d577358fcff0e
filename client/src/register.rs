//! Opening a socket and registering it: the register frame out, `{"channel_id":N}` back, or
//! the server's error frame and close code as a [`ClientError::Refused`].

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use process_lib::{WsErrorFrame, WsRegister, WsRegistered};
use tokio::net::TcpStream;
use tokio_rustls::rustls::ClientConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::error::ClientError;
use crate::options::Options;
use crate::tls;

/// A client socket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One URL a connection may use.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `ws://host:port/` or `wss://host:port/`.
    pub url: String,
    /// For `wss://`, the TLS configuration (made once, used by every reconnection).
    pub tls: Option<Arc<ClientConfig>>,
}

/// Where and as what to register.
#[derive(Clone, Debug)]
pub struct Target {
    /// The URLs, in the order given (at least one).
    pub endpoints: Vec<Endpoint>,
    /// The node's token; empty to rely on a login cookie (browsers only).
    pub token: String,
    /// `name:package:publisher`.
    pub process: process_lib::ProcessId,
}

impl Target {
    /// The URL of endpoint `at`.
    pub fn url(&self, at: usize) -> &str {
        self.endpoints.get(at).map_or("", |e| e.url.as_str())
    }
}

/// Opens a socket to `target`'s endpoint `at` and registers it, within the connect timeout.
pub async fn open(
    target: &Target,
    at: usize,
    options: &Options,
) -> Result<(Socket, u32), ClientError> {
    let Some(endpoint) = target.endpoints.get(at) else {
        return Err(ClientError::Closed);
    };
    tokio::time::timeout(
        options.connect_timeout,
        open_unbounded(target, endpoint, options),
    )
    .await
    .map_err(|_| ClientError::Timeout(options.connect_timeout))?
}

async fn open_unbounded(
    target: &Target,
    endpoint: &Endpoint,
    options: &Options,
) -> Result<(Socket, u32), ClientError> {
    let connect_error = |source| ClientError::Connect {
        url: endpoint.url.clone(),
        source,
    };
    let opened = match &endpoint.tls {
        None => tokio_tungstenite::connect_async(endpoint.url.as_str()).await,
        Some(config) => {
            let connector = Connector::Rustls(config.clone());
            tokio_tungstenite::connect_async_tls_with_config(
                endpoint.url.as_str(),
                None,
                false,
                Some(connector),
            )
            .await
        }
    };
    let (mut ws, _) = opened.map_err(|source| match tls::tls_problem(&source, &endpoint.url) {
        Some(problem) => ClientError::Tls {
            url: endpoint.url.clone(),
            source: problem,
        },
        None => connect_error(source),
    })?;
    let register = WsRegister {
        auth_token: target.token.clone(),
        target_process: target.process.clone(),
        encrypted: options.encrypted,
    };
    let frame = serde_json::to_string(&register)?;
    ws.send(Message::text(frame)).await.map_err(connect_error)?;
    let mut explained: Option<WsErrorFrame> = None;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                if let Ok(WsRegistered { channel_id }) = serde_json::from_str(&text) {
                    return Ok((ws, channel_id));
                }
                match serde_json::from_str::<WsErrorFrame>(&text) {
                    Ok(error) => explained = Some(error),
                    Err(_) => return Err(ClientError::Protocol(text.to_string())),
                }
            }
            Some(Ok(Message::Close(frame))) => {
                let (close_code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                return Err(refusal(explained, close_code, reason));
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(connect_error(error)),
            None => return Err(refusal(explained, 1006, String::new())),
        }
    }
}

fn refusal(explained: Option<WsErrorFrame>, close_code: u16, reason: String) -> ClientError {
    match explained {
        Some(frame) => ClientError::Refused {
            code: frame.error.code.as_str().to_owned(),
            message: frame.error.message,
            close_code,
        },
        None => ClientError::Refused {
            code: reason.clone(),
            message: format!("the server closed the socket before registering it ({reason})"),
            close_code,
        },
    }
}
