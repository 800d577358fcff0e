//! Client connections for the scenarios. Each socket is bound to one of several 127.0.0.x
//! source addresses in turn, so more connections than one address's ~28k ephemeral ports
//! can be open; each then speaks the Switchboard register flow or plain WebSocket.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::servers::Server;

/// A client's socket.
pub type Ws = WebSocketStream<TcpStream>;

/// How many loopback source addresses connections rotate over (127.0.0.1 ..= 127.0.0.N).
pub const SOURCE_ADDRESSES: usize = 8;

static NEXT_SOURCE: AtomicUsize = AtomicUsize::new(0);

/// What a client connects for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Every frame comes back.
    Echo,
    /// Every frame goes to every subscriber.
    Broadcast,
    /// `chat:chat:sys` (Switchboard only).
    Chat,
    /// The cluster scenario's publishing process, [`crate::audience::ID`] (Switchboard only).
    Audience,
}

/// Where and how to connect to one server.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// The register flow's token, for Switchboard; plain WebSocket otherwise.
    pub token: Option<String>,
    /// The process echo clients register to (Switchboard).
    pub echo_process: &'static str,
}

impl Target {
    /// The target for a running server.
    pub fn of(server: &Server) -> Self {
        Self {
            addr: server.addr,
            token: if server.kind.registers() {
                server.token.clone()
            } else {
                None
            },
            echo_process: server.kind.echo_process(),
        }
    }

    /// Opens a socket for `endpoint`; for Switchboard, registers and waits for the channel.
    pub async fn connect(&self, endpoint: Endpoint) -> anyhow::Result<Ws> {
        Ok(self.connect_channel(endpoint).await?.0)
    }

    /// [`Target::connect`], with the channel id the node gave (Switchboard only).
    pub async fn connect_channel(&self, endpoint: Endpoint) -> anyhow::Result<(Ws, Option<u32>)> {
        let n = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed) % SOURCE_ADDRESSES;
        let source = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 1 + n as u8), 0));
        let socket = TcpSocket::new_v4()?;
        socket
            .bind(source)
            .with_context(|| format!("bind {source}"))?;
        let stream = socket.connect(self.addr).await.context("connect")?;
        stream.set_nodelay(true)?;
        let path = match (&self.token, endpoint) {
            (Some(_), _) => "/",
            (None, Endpoint::Echo) => "/echo",
            (None, Endpoint::Broadcast | Endpoint::Chat | Endpoint::Audience) => "/broadcast",
        };
        let url = format!("ws://{}{}", self.addr, path);
        // A small read buffer: ten thousand clients must fit beside the server.
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
            .await
            .context("websocket handshake")?;
        let mut channel_id = None;
        if let Some(token) = &self.token {
            let process = match endpoint {
                Endpoint::Echo => self.echo_process,
                Endpoint::Broadcast => "broadcast:broadcast:sys",
                Endpoint::Chat => "chat:chat:sys",
                Endpoint::Audience => crate::audience::ID,
            };
            let register = serde_json::json!({
                "auth_token": token,
                "target_process": process,
                "encrypted": false,
            });
            ws.send(Message::text(register.to_string())).await?;
            let reply = next_data(&mut ws).await?;
            let reply: serde_json::Value = serde_json::from_slice(&reply)?;
            let id = reply["channel_id"].as_u64();
            anyhow::ensure!(id.is_some(), "register refused: {reply}");
            channel_id = id.and_then(|id| u32::try_from(id).ok());
        }
        Ok((ws, channel_id))
    }
}

/// The next text or binary frame's payload; an error when the socket ends. `ws` is a
/// whole socket or the read half of a split one.
pub async fn next_data<S>(ws: &mut S) -> anyhow::Result<bytes::Bytes>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => return Ok(b),
            Some(Ok(Message::Text(t))) => return Ok(bytes::Bytes::from(t)),
            Some(Ok(Message::Close(frame))) => anyhow::bail!("closed by the server: {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("socket ended"),
        }
    }
}

/// One round trip of `payload`; checks the frame that came back.
pub async fn round_trip(ws: &mut Ws, payload: &bytes::Bytes) -> anyhow::Result<()> {
    ws.send(Message::Binary(payload.clone())).await?;
    let back = next_data(ws).await?;
    anyhow::ensure!(back == *payload, "echo returned a different frame");
    Ok(())
}
