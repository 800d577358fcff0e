//! What a browser-side test needs beside `WsClient`: a raw HTTP/1.1 client (so tests read
//! headers exactly as sent, and can pick their 127.0.0.x source address), WebSocket connects
//! with chosen headers whose HTTP refusals are readable, and a client TLS config that trusts
//! one certificate.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::{WsClient, WAIT};

/// An HTTP response as it came off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Every header, in order, names lower-cased, values as sent.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// Every value of header `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The one value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.all(name).first().copied()
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One HTTP request to send.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl RawRequest {
    /// A request with no body.
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `POST path` with a JSON body.
    pub fn post_json(path: &str, body: &Value) -> Self {
        Self::new("POST", path)
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    fn bytes(&self, host: &str) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\ncontent-length: {}\r\n",
            self.method,
            self.path,
            self.body.len()
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// Sends `request` to `to` from source address `from` (any 127.0.0.x works on Linux loopback).
pub async fn send_from(from: IpAddr, to: SocketAddr, request: &RawRequest) -> RawResponse {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(from, 0)).expect("bind source");
    let stream = tokio::time::timeout(WAIT, socket.connect(to))
        .await
        .expect("connect in time")
        .expect("connect");
    exchange(stream, &to.to_string(), request).await
}

/// Sends `request` to `to` from 127.0.0.1.
pub async fn send(to: SocketAddr, request: &RawRequest) -> RawResponse {
    send_from([127, 0, 0, 1].into(), to, request).await
}

/// Writes `request` on `stream` (plain or TLS) and reads the whole response.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    request: &RawRequest,
) -> RawResponse {
    let io = async {
        stream.write_all(&request.bytes(host)).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.or_else(|e| {
            // A TLS peer may close without close_notify after a complete response.
            if raw.is_empty() {
                Err(e)
            } else {
                Ok(0)
            }
        })?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(WAIT, io)
        .await
        .expect("response in time")
        .expect("response");
    parse(&raw)
}

fn parse(raw: &[u8]) -> RawResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        data = &data[line_end + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
    out
}

/// The `name=value` part of a `Set-Cookie` header, ready for a `Cookie` header.
pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

/// Why a WebSocket connect failed: the HTTP status and body, or another error.
#[derive(Debug)]
pub enum Refused {
    /// The server answered the upgrade with this status and body.
    Http(u16, String),
    /// Anything else.
    Other(String),
}

/// Connects to `url` with extra request headers (`origin`, `cookie`, …).
pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Result<WsClient, Refused> {
    let mut request = url.into_client_request().expect("valid url");
    for (k, v) in headers {
        request
            .headers_mut()
            .insert(http_name(k), v.parse().expect("valid header value"));
    }
    let connect = tokio_tungstenite::connect_async(request);
    match tokio::time::timeout(WAIT, connect)
        .await
        .expect("connect in time")
    {
        Ok((ws, _)) => Ok(WsClient { ws }),
        Err(WsError::Http(response)) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err(Refused::Http(status, body))
        }
        Err(other) => Err(Refused::Other(other.to_string())),
    }
}

fn http_name(name: &str) -> tokio_tungstenite::tungstenite::http::HeaderName {
    name.parse().expect("valid header name")
}

/// A rustls client config that trusts exactly `cert_der` (a test's self-signed certificate).
pub fn client_tls(cert_der: &[u8]) -> Arc<tokio_rustls::rustls::ClientConfig> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert_der.to_vec()))
        .expect("trust the test certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}
