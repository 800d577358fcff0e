//! The register flow end to end against `echo:echo:sys`.

use switchboard_tests::{Frame, TestNode, WsClient};

#[tokio::test]
async fn register_then_echo_text_and_binary() {
    let node = TestNode::start(vec![]).await;
    let (mut client, channel_id) = node.register("echo:echo:sys").await;
    assert!(channel_id > 0);
    client.send_text("hello, switchboard").await;
    assert_eq!(
        client.next().await,
        Frame::Text("hello, switchboard".into())
    );
    client.send_binary(&[0, 1, 2, 255]).await;
    assert_eq!(client.next().await, Frame::Binary(vec![0, 1, 2, 255]));
    // The register frame may also arrive as binary; here a second client does that.
    let mut second = WsClient::connect(&node.url()).await;
    let frame = serde_json::json!({"auth_token": node.token(), "target_process": "echo:echo:sys", "encrypted": false});
    second.send_binary(frame.to_string().as_bytes()).await;
    let reply = second.next_json().await;
    let second_id = reply["channel_id"].as_u64().expect("channel id") as u32;
    assert_ne!(second_id, channel_id);
    second.send_text("two").await;
    assert_eq!(second.next_text().await, "two");
    drop((client, second));
    node.node.shutdown().await;
}

#[tokio::test]
async fn two_hundred_concurrent_clients_each_echo() {
    let node = TestNode::start(vec![]).await;
    let url = node.url();
    let token = node.token();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (url, token) = (url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = WsClient::connect(&url).await;
            let id = client.register(&token, "echo:echo:sys").await;
            for round in 0..5 {
                let text = format!("client {i} round {round}");
                client.send_text(&text).await;
                assert_eq!(client.next_text().await, text);
            }
            id
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("client task"));
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 200, "every live channel has its own id");
    node.node.shutdown().await;
}

#[tokio::test]
async fn plain_get_and_unknown_paths_say_what_they_are() {
    let node = TestNode::start(vec![]).await;
    let addr = node.node.local_addr();
    let get = |path: &'static str| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    };
    let index = get("/").await;
    assert!(index.starts_with("HTTP/1.1 200"), "{index}");
    assert!(index.contains("Switchboard node local.os"), "{index}");
    let missing = get("/nope").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(
        missing.contains("nothing is served at this path"),
        "{missing}"
    );
}

#[tokio::test]
async fn pings_are_answered_with_pongs() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let node = TestNode::start(vec![]).await;
    // Before and after registering, a ping gets its pong with the same payload.
    let mut client = WsClient::connect(&node.url()).await;
    for payload in [&b"before"[..], &b"after"[..]] {
        if payload == b"after" {
            client.register(&node.token(), "echo:echo:sys").await;
        }
        client
            .ws
            .send(Message::Ping(payload.to_vec().into()))
            .await
            .unwrap();
        let pong = tokio::time::timeout(switchboard_tests::WAIT, async {
            loop {
                match client.ws.next().await {
                    Some(Ok(Message::Pong(bytes))) => return bytes.to_vec(),
                    Some(Ok(_)) => continue,
                    other => panic!("socket ended before the pong: {other:?}"),
                }
            }
        })
        .await
        .expect("a pong in time");
        assert_eq!(pong, payload);
    }
}

#[tokio::test]
async fn large_frames_come_back_whole_through_the_small_read_buffer() {
    // Each socket keeps a tiny tungstenite read buffer behind 16 KiB reads; a frame far
    // larger than both must still arrive whole, and several back to back stay in order.
    let node = TestNode::start(vec![]).await;
    let (mut client, _) = node.register("echo:echo:sys").await;
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    client.send_binary(&big).await;
    client.send_text("after the big one").await;
    client.send_binary(&big[..20_000]).await;
    assert_eq!(client.next().await, Frame::Binary(big.clone()));
    assert_eq!(client.next_text().await, "after the big one");
    assert_eq!(client.next().await, Frame::Binary(big[..20_000].to_vec()));
    drop(client);
    node.node.shutdown().await;
}

/// A client's text frame carrying `text`, masked as clients must, in wire form.
fn client_text_frame(text: &[u8]) -> Vec<u8> {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    masked(Frame::message(
        text.to_vec(),
        OpCode::Data(Data::Text),
        true,
    ))
}

/// A client's ping frame carrying `payload`, in wire form.
fn client_ping_frame(payload: &[u8]) -> Vec<u8> {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    masked(Frame::ping(payload.to_vec()))
}

/// `frame` masked as clients must, in wire form.
fn masked(mut frame: tokio_tungstenite::tungstenite::protocol::frame::Frame) -> Vec<u8> {
    frame.header_mut().mask = Some([0x37, 0xfa, 0x21, 0x3d]);
    let mut wire = Vec::new();
    frame.format(&mut wire).expect("format into a Vec");
    wire
}

#[tokio::test]
async fn frames_sent_with_the_upgrade_request_are_not_lost() {
    use futures_util::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::protocol::Role;
    use tokio_tungstenite::tungstenite::Message;

    let node = TestNode::start(vec![]).await;
    let addr = node.addr();
    // The upgrade request, a ping, the register frame and a first message in one write,
    // without waiting for the 101: the node reads past the request before it answers, and
    // past the register frame before the channel opens.
    let register = serde_json::json!({"auth_token": node.token(), "target_process": "echo:echo:sys", "encrypted": false});
    let mut bytes = format!(
        "GET / HTTP/1.1\r\nhost: {addr}\r\nconnection: upgrade\r\nupgrade: websocket\r\n\
         sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .into_bytes();
    bytes.extend(client_ping_frame(b"before registering"));
    bytes.extend(client_text_frame(register.to_string().as_bytes()));
    bytes.extend(client_text_frame(b"sent with the request"));
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    socket.write_all(&bytes).await.expect("write");

    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            socket.read(&mut byte).await.expect("read"),
            1,
            "closed early"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("utf-8 head");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut ws =
        tokio_tungstenite::WebSocketStream::from_raw_socket(socket, Role::Client, None).await;
    let mut next = async || {
        tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
            .await
            .expect("a frame in time")
    };
    match next().await {
        Some(Ok(Message::Pong(payload))) => assert_eq!(&payload[..], b"before registering"),
        other => panic!("expected the pong, got {other:?}"),
    }
    let mut next_text = async || match next().await {
        Some(Ok(Message::Text(text))) => text.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    };
    let registered: serde_json::Value =
        serde_json::from_str(&next_text().await).expect("json reply");
    assert!(registered["channel_id"].as_u64().is_some(), "{registered}");
    assert_eq!(next_text().await, "sent with the request");
    ws.close(None).await.expect("close");
    node.node.shutdown().await;
}

#[tokio::test]
async fn a_client_close_is_answered_once_with_its_own_code() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::Message;

    let node = TestNode::start(vec![]).await;
    let (mut client, _) = node.register("echo:echo:sys").await;
    client.send_text("one last thing").await;
    client
        .ws
        .close(Some(CloseFrame {
            code: CloseCode::from(4000),
            reason: "done here".into(),
        }))
        .await
        .expect("close");
    // The echo of the frame sent before the close still arrives, then the client's own
    // close frame comes back, and then the socket ends: no second close frame.
    let mut seen = Vec::new();
    let ended = tokio::time::timeout(switchboard_tests::WAIT, async {
        while let Some(frame) = client.ws.next().await {
            match frame {
                Ok(message) => seen.push(message),
                Err(error) => return Some(error.to_string()),
            }
        }
        None
    })
    .await
    .expect("the socket ends in time");
    assert_eq!(
        seen,
        vec![
            Message::text("one last thing"),
            Message::Close(Some(CloseFrame {
                code: CloseCode::from(4000),
                reason: "done here".into(),
            })),
        ],
        "ended with {ended:?}"
    );
    assert_eq!(ended, None, "the socket ends cleanly");
    node.node.shutdown().await;
}
