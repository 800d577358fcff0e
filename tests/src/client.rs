//! A WebSocket client for tests: real tokio-tungstenite over a real socket.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::WAIT;

/// What the client read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
    /// A close frame with its code and reason.
    Close(u16, String),
    /// The stream ended with no close frame.
    Ended,
}

/// One client connection.
#[derive(Debug)]
pub struct WsClient {
    /// The socket.
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// Connects to `url`.
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        Self { ws }
    }

    /// Connects to `url` (plain ws) from local address `from` (any of 127/8 is loopback, so
    /// a test can be several client addresses).
    pub async fn connect_from(url: &str, from: std::net::IpAddr) -> Self {
        let server: std::net::SocketAddr = url
            .trim_start_matches("ws://")
            .trim_end_matches('/')
            .parse()
            .expect("a ws://ADDR:PORT/ url");
        let connect = async {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket
                .bind((from, 0).into())
                .expect("bind the client address");
            let stream = socket.connect(server).await.expect("connect");
            tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
                .await
                .expect("upgrade")
                .0
        };
        let ws = tokio::time::timeout(WAIT, connect)
            .await
            .expect("connect in time");
        Self { ws }
    }

    /// Sends the register frame and returns the channel id from the reply.
    pub async fn register(&mut self, token: &str, process: &str) -> u32 {
        self.send_register(token, process, false).await;
        let reply = self.next_json().await;
        reply["channel_id"]
            .as_u64()
            .unwrap_or_else(|| panic!("expected {{\"channel_id\":N}}, got {reply}")) as u32
    }

    /// Sends a register frame.
    pub async fn send_register(&mut self, token: &str, process: &str, encrypted: bool) {
        let frame = serde_json::json!({
            "auth_token": token,
            "target_process": process,
            "encrypted": encrypted,
        });
        self.send_text(&frame.to_string()).await;
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send text");
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::binary(bytes.to_vec()))
            .await
            .expect("send binary");
    }

    /// The next data or close frame (pings and pongs are skipped).
    pub async fn next(&mut self) -> Frame {
        tokio::time::timeout(WAIT, self.next_unbounded())
            .await
            .expect("a frame in time")
    }

    async fn next_unbounded(&mut self) -> Frame {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => return Frame::Text(t.to_string()),
                Some(Ok(Message::Binary(b))) => return Frame::Binary(b.to_vec()),
                Some(Ok(Message::Close(frame))) => {
                    return frame.map_or(Frame::Close(1005, String::new()), |f| {
                        Frame::Close(f.code.into(), f.reason.to_string())
                    })
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Frame::Ended,
            }
        }
    }

    /// The next frame, which must be text.
    pub async fn next_text(&mut self) -> String {
        match self.next().await {
            Frame::Text(t) => t,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next frame, which must be JSON text.
    pub async fn next_json(&mut self) -> Value {
        let text = self.next_text().await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// Expects the socket to be failed for a protocol violation: a close frame with
    /// `close_code` and `code` as its reason, and no error frame before it.
    pub async fn expect_failure(&mut self, code: &str, close_code: u16) {
        assert_eq!(
            self.next().await,
            Frame::Close(close_code, code.to_owned()),
            "a protocol failure is a close frame alone"
        );
    }

    /// Expects the error frame with `code` and then a close frame with `close_code`;
    /// returns the error's message.
    pub async fn expect_refusal(&mut self, code: &str, close_code: u16) -> String {
        let frame = self.next_json().await;
        assert_eq!(frame["error"]["code"], code, "error frame: {frame}");
        let message = frame["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("error frame without a message: {frame}"))
            .to_owned();
        assert!(!message.is_empty());
        match self.next().await {
            Frame::Close(got, reason) => {
                assert_eq!(got, close_code, "close code");
                assert_eq!(reason, code, "close reason");
            }
            other => panic!("expected close {close_code}, got {other:?}"),
        }
        message
    }
}

/// Says `text` in `chat:chat:sys` of the node at `url` from a plain WebSocket, and waits
/// until the chat has broadcast it (it is archived by then).
pub async fn say_in_chat(url: &str, token: &str, text: &str) {
    let mut ws = WsClient::connect(url).await;
    ws.register(token, "chat:chat:sys").await;
    let say = serde_json::json!({"type": "say", "text": text});
    ws.send_text(&say.to_string()).await;
    let said = format!("\"text\":{}", serde_json::Value::from(text));
    while !ws.next_text().await.contains(&said) {}
}
