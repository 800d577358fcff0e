//! https and wss: a node serving a self-signed certificate made by the test (rcgen), and a
//! rustls client that trusts exactly that certificate.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use gateway::config::TlsFiles;
use serde_json::json;
use switchboard_tests::web::{self, client_tls, cookie_pair, RawRequest};
use switchboard_tests::{web_procs, TestNode, WAIT};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

struct TlsNode {
    node: TestNode,
    trust: Arc<tokio_rustls::rustls::ClientConfig>,
    _certs: tempfile::TempDir,
}

async fn tls_node() -> TlsNode {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("self-signed certificate");
    let certs = tempfile::tempdir().expect("cert dir");
    let cert = certs.path().join("cert.pem");
    let key = certs.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("write key");
    let (mut config, home) = TestNode::config();
    config.tls = Some(TlsFiles { cert, key });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let node = TestNode::start_with(config, home, vec![web_procs::binder(tx)]).await;
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("binds in time")
        .expect("binder reports")
        .expect("binds accepted");
    TlsNode {
        node,
        trust: client_tls(certified.cert.der()),
        _certs: certs,
    }
}

impl TlsNode {
    async fn tls_stream(&self) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.node.addr()).await.expect("tcp");
        let name = ServerName::try_from("localhost").expect("server name");
        tokio::time::timeout(
            WAIT,
            TlsConnector::from(self.trust.clone()).connect(name, tcp),
        )
        .await
        .expect("handshake in time")
        .expect("the client trusts the node's certificate")
    }

    fn host(&self) -> String {
        format!("localhost:{}", self.node.addr().port())
    }

    async fn wss(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> WebSocketStream<TlsStream<TcpStream>> {
        let mut request = format!("wss://{}{path}", self.host())
            .into_client_request()
            .expect("request");
        for (k, v) in headers {
            request.headers_mut().insert(
                k.parse::<tokio_tungstenite::tungstenite::http::HeaderName>()
                    .expect("name"),
                v.parse().expect("value"),
            );
        }
        let stream = self.tls_stream().await;
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(request, stream))
            .await
            .expect("upgrade in time")
            .expect("upgrade");
        ws
    }
}

async fn next_text(ws: &mut WebSocketStream<TlsStream<TcpStream>>) -> String {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .expect("a frame");
        if let Message::Text(text) = frame {
            return text.to_string();
        }
    }
}

#[tokio::test]
async fn a_wss_session_over_a_self_signed_certificate() {
    let tls = tls_node().await;
    assert!(
        tls.node.url().starts_with("wss://127.0.0.1:"),
        "{}",
        tls.node.url()
    );

    // Register flow, demanding encryption: accepted on TLS.
    let mut ws = tls.wss("/", &[]).await;
    let register = json!({
        "auth_token": tls.node.token(),
        "target_process": "echo:echo:sys",
        "encrypted": true,
    });
    ws.send(Message::text(register.to_string()))
        .await
        .expect("send");
    let reply: serde_json::Value = serde_json::from_str(&next_text(&mut ws).await).expect("json");
    assert!(
        reply["channel_id"].as_u64().is_some_and(|id| id > 0),
        "{reply}"
    );
    ws.send(Message::text("over tls")).await.expect("send");
    assert_eq!(next_text(&mut ws).await, "over tls");
}

#[tokio::test]
async fn https_login_sets_a_secure_cookie_that_opens_a_bound_wss_path() {
    let tls = tls_node().await;
    tls.node.set_password("tls password");
    let response = web::exchange(
        tls.tls_stream().await,
        &tls.host(),
        &RawRequest::post_json("/login", &json!({ "password": "tls password" })),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let set_cookie = response.header("set-cookie").unwrap_or_default().to_owned();
    assert!(
        set_cookie.ends_with("; HttpOnly; SameSite=Strict; Path=/; Max-Age=604800; Secure"),
        "{set_cookie}"
    );

    // The page's origin is https://localhost:PORT: the cookie opens the bound path.
    let origin = format!("https://{}", tls.host());
    let cookie = cookie_pair(&set_cookie);
    let mut ws = tls
        .wss(
            "/binder:test:sys/ws",
            &[("cookie", &cookie), ("origin", &origin)],
        )
        .await;
    let hello: serde_json::Value = serde_json::from_str(&next_text(&mut ws).await).expect("json");
    assert_eq!(hello["opened"], "/ws");
    ws.send(Message::text("secure")).await.expect("send");
    assert_eq!(next_text(&mut ws).await, "echo:secure");

    // An http:// page of the same host is another origin.
    let response = web::exchange(
        tls.tls_stream().await,
        &tls.host(),
        &RawRequest::new("GET", "/binder:test:sys/ws")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("connection", "upgrade")
            .header("cookie", &cookie)
            .header("origin", &format!("http://{}", tls.host())),
    )
    .await;
    assert_eq!(response.status, 403);
}
