//! Every failure of the register flow: the error frame's code and sentence, then the close code;
//! and protocol violations, which get the close frame alone.

use std::time::Duration;

use futures_util::SinkExt;
use gateway::auth::{Auth, Claims};
use switchboard_tests::{eventually, procs, Frame, TestNode, WsClient, WAIT};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame as WireFrame, FrameHeader};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn no_register_frame_in_time() {
    let (mut config, home) = TestNode::config();
    config.register_timeout = Duration::from_millis(300);
    let node = TestNode::start_with(config, home, vec![]).await;
    let mut client = WsClient::connect(&node.url()).await;
    let message = client.expect_refusal("register_timeout", 1008).await;
    assert!(
        message.contains("no register frame within 0.3 s"),
        "{message}"
    );
}

#[tokio::test]
async fn malformed_register_frames() {
    let node = TestNode::start(vec![]).await;
    for bad in [
        "hello",
        "{}",
        r#"{"auth_token": 5, "target_process": "echo:echo:sys"}"#,
        r#"{"auth_token": "x", "target_process": "echo:echo"}"#,
        r#"{"auth_token": "x", "target_process": "Echo:echo:sys"}"#,
    ] {
        let mut client = WsClient::connect(&node.url()).await;
        client.send_text(bad).await;
        let message = client.expect_refusal("malformed_register", 1008).await;
        assert!(
            message.contains("the first frame must be"),
            "{bad}: {message}"
        );
    }
}

#[tokio::test]
async fn unauthorized_tokens() {
    let node = TestNode::start(vec![]).await;
    let secret_elsewhere = Auth::new("local.os", &[3; 32]).mint(Duration::from_secs(60));
    let expired = node.node.auth().mint_claims(&Claims {
        username: "local.os".into(),
        exp: 1_000_000,
        process: None,
    });
    let other_node = node.node.auth().mint_claims(&Claims {
        username: "bob.os".into(),
        exp: u64::MAX / 2,
        process: None,
    });
    let cases = [
        ("", "no auth token was given"),
        ("garbage", "not valid for this node"),
        (secret_elsewhere.as_str(), "not valid for this node"),
        (expired.as_str(), "has expired"),
        (other_node.as_str(), "is for node \"bob.os\""),
    ];
    for (token, says) in cases {
        let mut client = WsClient::connect(&node.url()).await;
        client.send_register(token, "echo:echo:sys", false).await;
        let message = client.expect_refusal("unauthorized", 4401).await;
        assert!(message.contains(says), "{token:?}: {message}");
    }
}

#[tokio::test]
async fn unknown_process_or_one_that_takes_no_websockets() {
    let node = TestNode::start(vec![procs::quiet()]).await;
    for process in ["nobody:home:sys", "quiet:test:sys"] {
        let mut client = WsClient::connect(&node.url()).await;
        client.send_register(&node.token(), process, false).await;
        let message = client.expect_refusal("no_such_process", 4404).await;
        assert!(message.contains(process), "{message}");
    }
}

#[tokio::test]
async fn an_unauthorized_client_learns_nothing_about_processes() {
    let node = TestNode::start(vec![]).await;
    let mut client = WsClient::connect(&node.url()).await;
    client.send_register("bad", "nobody:home:sys", false).await;
    client.expect_refusal("unauthorized", 4401).await;
}

#[tokio::test]
async fn encryption_demanded_on_plain_ws() {
    let node = TestNode::start(vec![]).await;
    let mut client = WsClient::connect(&node.url()).await;
    client
        .send_register(&node.token(), "echo:echo:sys", true)
        .await;
    let message = client.expect_refusal("encryption_required", 4403).await;
    assert!(message.contains("wss://"), "{message}");
}

#[tokio::test]
async fn message_too_big_before_and_after_register() {
    let (mut config, home) = TestNode::config();
    config.max_message_size = 4096;
    let node = TestNode::start_with(config, home, vec![]).await;
    let mut client = WsClient::connect(&node.url()).await;
    client.send_binary(&vec![b'x'; 10_000]).await;
    client.expect_failure("message_too_big", 1009).await;

    let (mut client, _) = node.register("echo:echo:sys").await;
    client.send_text(&"y".repeat(4000)).await;
    assert_eq!(client.next_text().await.len(), 4000);
    client.send_text(&"y".repeat(5000)).await;
    client.expect_failure("message_too_big", 1009).await;
}

#[tokio::test]
async fn over_capacity() {
    let (mut config, home) = TestNode::config();
    config.max_connections = 1;
    let node = TestNode::start_with(config, home, vec![]).await;
    let (mut first, _) = node.register("echo:echo:sys").await;
    let mut second = WsClient::connect(&node.url()).await;
    second.expect_refusal("over_capacity", 1013).await;
    first.send_text("still here").await;
    assert_eq!(first.next_text().await, "still here");
    // Once the first leaves, there is room again.
    first.ws.close(None).await.expect("close");
    assert!(matches!(
        first.next().await,
        Frame::Close(..) | Frame::Ended
    ));
    // The first socket's permit is released when its task ends.
    let mut third = None;
    eventually(WAIT, "a slot frees up once a client leaves", async || {
        let mut client = WsClient::connect(&node.url()).await;
        client
            .send_register(&node.token(), "echo:echo:sys", false)
            .await;
        let reply = client.next_json().await;
        if reply.get("channel_id").is_some() {
            third = Some(client);
        }
        third.is_some()
    })
    .await;
    assert!(third.is_some(), "a slot frees up once a client leaves");
}

#[tokio::test]
async fn shutdown_closes_every_channel_going_away() {
    let node = TestNode::start(vec![]).await;
    let (mut a, _) = node.register("echo:echo:sys").await;
    let (mut b, _) = node.register("echo:echo:sys").await;
    let TestNode { node, home: _home } = node;
    let stopping = tokio::spawn(node.shutdown());
    a.expect_refusal("going_away", 1001).await;
    b.expect_refusal("going_away", 1001).await;
    drop((a, b));
    stopping.await.expect("shutdown completes");
}

#[tokio::test]
async fn an_empty_frame_token_falls_back_to_the_login_cookie() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let node = TestNode::start(vec![]).await;
    // A browser page of the node's own origin: the cookie counts only with that Origin.
    let origin = format!("http://{}", node.node.local_addr());
    let connect_with_cookie = |cookie: String| {
        let mut request = node.url().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        async move {
            let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
            WsClient { ws }
        }
    };
    let mut client =
        connect_with_cookie(format!("theme=dark; kinode-auth_local.os={}", node.token())).await;
    let id = client.register("", "echo:echo:sys").await;
    assert!(id > 0);
    client.send_text("by cookie").await;
    assert_eq!(client.next_text().await, "by cookie");

    // A cookie for another node does not count; neither does no cookie.
    let mut client = connect_with_cookie(format!("kinode-auth_bob.os={}", node.token())).await;
    client.send_register("", "echo:echo:sys", false).await;
    let message = client.expect_refusal("unauthorized", 4401).await;
    assert!(message.contains("no auth token"), "{message}");
}

/// A frame of `opcode` with `configure` applied to its header, sent as is.
fn raw_frame(payload: &[u8], opcode: OpCode, configure: impl FnOnce(&mut FrameHeader)) -> Message {
    let mut header = FrameHeader {
        opcode,
        ..FrameHeader::default()
    };
    configure(&mut header);
    Message::Frame(WireFrame::from_payload(header, payload.to_vec().into()))
}

#[tokio::test]
async fn protocol_violations_fail_the_socket_with_a_close_frame_alone() {
    let node = TestNode::start(vec![]).await;
    // Reserved bits, a reserved opcode, a ping over 125 bytes: each a 1002, on a channel
    // and before a register frame alike.
    let violations = [
        raw_frame(b"hi", OpCode::Data(Data::Text), |h| h.rsv1 = true),
        raw_frame(b"", OpCode::Data(Data::Reserved(3)), |_| {}),
        raw_frame(&[b'p'; 126], OpCode::Control(Control::Ping), |_| {}),
    ];
    for violation in violations {
        let (mut client, _) = node.register("echo:echo:sys").await;
        client.send_text("before").await;
        assert_eq!(client.next_text().await, "before");
        client.ws.send(violation.clone()).await.expect("send");
        client.expect_failure("protocol_error", 1002).await;

        let mut client = WsClient::connect(&node.url()).await;
        client.ws.send(violation).await.expect("send");
        client.expect_failure("protocol_error", 1002).await;
    }
    // A close reason that is not UTF-8 is a 1007.
    let (mut client, _) = node.register("echo:echo:sys").await;
    let reason = [0x03, 0xe8, b'c', b'a', b'f', 0xe9];
    let close = raw_frame(&reason, OpCode::Control(Control::Close), |_| {});
    client.ws.send(close).await.expect("send");
    client.expect_failure("invalid_frame", 1007).await;
}

/// A client whose frame is over the limit is still sending that frame when the node fails
/// the connection. It must still read the close frame it was sent: the node drops what the
/// client sends after its close rather than resetting the connection under it. On a bound
/// path the frame fails an open channel; on `/` it is the first frame, before any register.
#[tokio::test]
async fn a_client_still_sending_an_oversized_frame_reads_its_close() {
    let node = TestNode::start(vec![]).await;
    let echo: process_lib::ProcessId = processes::echo::ID.parse().expect("echo's id");
    eventually(WAIT, "echo binds its path", async || {
        node.node.is_ws_bound(&echo, processes::echo::WS_PATH)
    })
    .await;
    let bound = format!(
        "/{}{}?token={}",
        processes::echo::ID,
        processes::echo::WS_PATH,
        node.token()
    );
    for path in [bound.as_str(), "/"] {
        send_an_oversized_frame_and_read_the_close(&node, path).await;
    }
}

async fn send_an_oversized_frame_and_read_the_close(node: &TestNode, path: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut socket = tokio::net::TcpStream::connect(node.addr())
        .await
        .expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        node.addr()
    );
    socket.write_all(request.as_bytes()).await.expect("upgrade");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        socket
            .read_exact(&mut byte)
            .await
            .expect("the upgrade's answer");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");

    // A binary frame announcing 8 MiB (the limit is 1 MiB a message), masked with a zero
    // key, and then all of its payload, without reading anything meanwhile.
    const LEN: usize = 8 << 20;
    let mut frame = vec![0x82, 0xff];
    frame.extend_from_slice(&(LEN as u64).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    socket.write_all(&frame).await.expect("the frame's header");
    let chunk = vec![0u8; 64 * 1024];
    for _ in 0..LEN / chunk.len() {
        socket
            .write_all(&chunk)
            .await
            .expect("the node takes the whole frame without resetting the connection");
    }
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, socket.read_to_end(&mut answer))
        .await
        .expect("the node ends the connection")
        .expect("the connection ends cleanly, not with a reset");
    // Nothing but the close frame: 1009 and the error code as its reason.
    let reason = b"message_too_big";
    let mut close = vec![0x88, 2 + reason.len() as u8];
    close.extend_from_slice(&1009u16.to_be_bytes());
    close.extend_from_slice(reason);
    assert_eq!(answer, close, "{}", String::from_utf8_lossy(&answer));
}
