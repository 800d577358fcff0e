//! A client that sends half a request and stops is told `408 Request Timeout` when the header
//! deadline passes, then the connection is closed; a connection that is merely idle between
//! requests is closed without a word.

use std::time::Duration;

use switchboard_tests::{TestNode, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn node_with_a_short_header_deadline() -> TestNode {
    let (mut config, home) = TestNode::config();
    config.header_read_timeout = Duration::from_millis(300);
    TestNode::start_with(config, home, vec![]).await
}

/// Everything the node sends until it closes the connection.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut received))
        .await
        .expect("the node closes the connection")
        .expect("read");
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn half_a_request_is_answered_408_then_closed() {
    let node = node_with_a_short_header_deadline().await;
    let mut stream = TcpStream::connect(node.addr()).await.expect("connect");
    stream
        .write_all(b"GET /login HTTP/1.1\r\nhost: 127.0.0.1\r\nuser-agent: slo")
        .await
        .expect("write half a request");
    let response = read_until_closed(&mut stream).await;
    assert!(
        response.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{response:?}"
    );
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("\r\nconnection: close"), "{head}");
    assert!(
        head.contains("\r\ncontent-type: application/json"),
        "{head}"
    );
    let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(
        body,
        serde_json::json!({ "error": "the request's headers did not all arrive within 0.3 s" })
    );
}

#[tokio::test]
async fn an_idle_connection_between_requests_is_closed_without_a_408() {
    let node = node_with_a_short_header_deadline().await;
    let mut stream = TcpStream::connect(node.addr()).await.expect("connect");
    stream
        .write_all(b"GET /login HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write a request");
    let received = read_until_closed(&mut stream).await;
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received:?}");
    assert_eq!(
        received.matches("HTTP/1.1 ").count(),
        1,
        "one response only: {received:?}"
    );
}
