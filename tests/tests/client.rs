//! The Rust client library against real nodes: send and receive every kind of frame,
//! refusals that say what the server said, several connections, and reconnection when the
//! node is stopped and started again.

use std::time::Duration;

use switchboard_client::{
    connect, connect_with, Backoff, ClientError, ConnectionState, Options, Received,
};
use switchboard_tests::{eventually, procs, TestNode, WAIT};
use tokio::sync::mpsc::UnboundedReceiver;

fn quick_reconnect(max_attempts: Option<u32>) -> Options {
    Options {
        reconnect: Some(Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
            max_attempts,
        }),
        ..Options::default()
    }
}

async fn next_state(states: &mut UnboundedReceiver<ConnectionState>) -> ConnectionState {
    tokio::time::timeout(WAIT, states.recv())
        .await
        .expect("a state change in time")
        .expect("the state stream is open")
}

async fn text(received: Received) -> String {
    match received {
        Received::Text(text) => text,
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test]
async fn send_and_receive_text_binary_and_json_then_close() {
    let node = TestNode::start(vec![]).await;
    let mut conn = connect(&node.url(), &node.token(), "echo:echo:sys")
        .await
        .expect("connect");
    assert!(conn.channel_id() > 0);
    conn.send_text("hello").await.expect("send");
    assert_eq!(
        text(conn.receive_timeout(WAIT).await.expect("in time")).await,
        "hello"
    );
    conn.send_binary(vec![0u8, 159, 146, 150])
        .await
        .expect("send");
    match conn.receive_timeout(WAIT).await.expect("in time") {
        Received::Binary(bytes) => assert_eq!(bytes.as_ref(), [0u8, 159, 146, 150]),
        other => panic!("expected binary, got {other:?}"),
    }
    conn.send_json(&serde_json::json!({"type": "say", "n": 1}))
        .await
        .expect("send");
    assert_eq!(
        text(conn.receive_timeout(WAIT).await.expect("in time")).await,
        r#"{"n":1,"type":"say"}"#
    );
    let quiet = conn.receive_timeout(Duration::from_millis(100)).await;
    assert!(matches!(quiet, Err(ClientError::Timeout(_))), "{quiet:?}");
    conn.close().await;
    // The node saw the channel go.
    eventually(WAIT, "the node drops the channel", async || {
        node.node.channel_count() == 0
    })
    .await;
    assert_eq!(node.node.channel_count(), 0);
}

#[tokio::test]
async fn refusals_carry_the_servers_error_frame_and_close_code() {
    let node = TestNode::start(vec![]).await;
    let error = connect(&node.url(), "not-a-token", "echo:echo:sys")
        .await
        .expect_err("refused");
    match &error {
        ClientError::Refused {
            code,
            message,
            close_code,
        } => {
            assert_eq!(code, "unauthorized");
            assert_eq!(message, "the auth token is not valid for this node");
            assert_eq!(*close_code, 4401);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "the server refused the connection: the auth token is not valid for this node (unauthorized, close code 4401)"
    );
    assert!(!error.is_retryable());

    let error = connect(&node.url(), &node.token(), "nope:nope:sys")
        .await
        .expect_err("refused");
    assert!(
        matches!(&error, ClientError::Refused { code, close_code: 4404, .. } if code == "no_such_process"),
        "{error:?}"
    );

    let error = connect(&node.url(), &node.token(), "not a process")
        .await
        .expect_err("not a process id");
    assert!(
        error
            .to_string()
            .starts_with("\"not a process\" is not a process id"),
        "{error}"
    );

    let addr = node.node.local_addr();
    node.node.shutdown().await;
    let error = connect(&format!("ws://{addr}/"), "t", "echo:echo:sys")
        .await
        .expect_err("nobody listens");
    assert!(matches!(error, ClientError::Connect { .. }), "{error:?}");
}

#[tokio::test]
async fn several_connections_from_one_program() {
    let node = TestNode::start(vec![]).await;
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut conn = connect(&node.url(), &node.token(), "chat:chat:sys")
            .await
            .expect("connect");
        let greeting = text(conn.receive_timeout(WAIT).await.expect("greeting")).await;
        assert!(greeting.starts_with("Welcome, user"), "{greeting}");
        conns.push(conn);
    }
    // user1 sees two joins, user2 one.
    for _ in 0..2 {
        text(conns[0].receive_timeout(WAIT).await.expect("join")).await;
    }
    text(conns[1].receive_timeout(WAIT).await.expect("join")).await;
    conns[2]
        .send_text("one program, three people")
        .await
        .expect("send");
    for conn in &mut conns {
        assert_eq!(
            text(conn.receive_timeout(WAIT).await.expect("message")).await,
            "[user3]: one program, three people"
        );
    }
}

#[tokio::test]
async fn a_stopped_and_restarted_node_is_reconnected_to() {
    let node = TestNode::start(vec![]).await;
    let mut conn = connect_with(
        &node.url(),
        &node.token(),
        "echo:echo:sys",
        quick_reconnect(None),
    )
    .await
    .expect("connect");
    let mut states = conn.take_states().expect("states");
    let first = conn.channel_id();
    assert_eq!(
        next_state(&mut states).await,
        ConnectionState::Connected {
            channel_id: first,
            url: node.url()
        }
    );

    let node = node.restart(vec![]).await;

    match next_state(&mut states).await {
        ConnectionState::Disconnected(close) => {
            assert_eq!(close.code, 1001);
            let error = close.error.expect("the gateway explained the close");
            assert_eq!(error.code.as_str(), "going_away");
            assert_eq!(error.message, "the node is shutting down");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    let mut attempts = 0;
    let channel_id = loop {
        match next_state(&mut states).await {
            ConnectionState::Reconnecting {
                attempt,
                delay,
                url,
            } => {
                attempts += 1;
                assert_eq!(attempt, attempts);
                assert!(delay <= Duration::from_millis(200), "{delay:?}");
                assert_eq!(url, node.url(), "one URL: always the same");
            }
            ConnectionState::Connected { channel_id, .. } => break channel_id,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(attempts >= 1);
    assert!(channel_id > 0);
    conn.send_text("after the restart").await.expect("send");
    assert_eq!(
        text(conn.receive_timeout(WAIT).await.expect("echo")).await,
        "after the restart"
    );
    assert_eq!(node.node.channel_count(), 1);
}

#[tokio::test]
async fn without_reconnection_a_crash_is_a_close_with_the_servers_reason() {
    let node = TestNode::start(vec![procs::crashable_chat()]).await;
    let options = Options {
        reconnect: None,
        ..Options::default()
    };
    let mut conn = connect_with(&node.url(), &node.token(), "chat:test:sys", options)
        .await
        .expect("connect");
    text(conn.receive_timeout(WAIT).await.expect("greeting")).await;
    conn.send_text(procs::CHAT_CRASH_WORD).await.expect("send");
    match conn.receive_timeout(WAIT).await.expect("close") {
        Received::Close {
            code,
            reason,
            error,
        } => {
            assert_eq!(code, 1011);
            assert_eq!(reason, "process_restarted");
            let error = error.expect("error frame");
            assert!(error.message.contains("crashed"), "{}", error.message);
        }
        other => panic!("expected a close, got {other:?}"),
    }
    assert!(matches!(
        conn.receive_timeout(WAIT).await.expect("end"),
        Received::Error(ClientError::Closed)
    ));
    assert!(conn.send_text("anyone?").await.is_err());
}

#[tokio::test]
async fn reconnection_gives_up_after_its_attempts() {
    let node = TestNode::start(vec![]).await;
    let mut conn = connect_with(
        &node.url(),
        &node.token(),
        "echo:echo:sys",
        quick_reconnect(Some(3)),
    )
    .await
    .expect("connect");
    let mut states = conn.take_states().expect("states");
    node.node.shutdown().await;
    match conn.receive_timeout(WAIT).await.expect("the end") {
        Received::Error(ClientError::GaveUp(3)) => {}
        other => panic!("expected GaveUp(3), got {other:?}"),
    }
    let mut seen = Vec::new();
    loop {
        let state = next_state(&mut states).await;
        let done = state == ConnectionState::Closed;
        seen.push(state);
        if done {
            break;
        }
    }
    let reconnecting = seen
        .iter()
        .filter(|s| matches!(s, ConnectionState::Reconnecting { .. }))
        .count();
    assert_eq!(reconnecting, 3, "{seen:?}");
}

#[tokio::test]
async fn pings_keep_a_quiet_connection_alive() {
    let node = TestNode::start(vec![]).await;
    let options = Options {
        ping_interval: Duration::from_millis(50),
        ..Options::default()
    };
    let mut conn = connect_with(&node.url(), &node.token(), "echo:echo:sys", options)
        .await
        .expect("connect");
    let mut states = conn.take_states().expect("states");
    assert!(matches!(
        next_state(&mut states).await,
        ConnectionState::Connected { .. }
    ));
    // Many ping intervals of silence: the node's pongs keep the connection counted as alive.
    let quiet = conn.receive_timeout(Duration::from_millis(500)).await;
    assert!(matches!(quiet, Err(ClientError::Timeout(_))), "{quiet:?}");
    assert!(states.try_recv().is_err(), "no change of state");
    conn.send_text("still here").await.expect("send");
    assert_eq!(
        text(conn.receive_timeout(WAIT).await.expect("echo")).await,
        "still here"
    );
}

#[tokio::test]
async fn a_server_that_stops_answering_pings_is_counted_as_lost() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    // A server that registers the client and then never reads again, so never answers a ping.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("ws://{}/", listener.local_addr().expect("addr"));
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(stream)
            .await
            .expect("handshake");
        ws.next().await.expect("register frame").expect("frame");
        ws.send(Message::text(r#"{"channel_id":7}"#))
            .await
            .expect("reply");
        let _ = held.await;
    });
    let options = Options {
        ping_interval: Duration::from_millis(50),
        reconnect: None,
        ..Options::default()
    };
    let mut conn = connect_with(&url, "any", "chat:chat:sys", options)
        .await
        .expect("connect");
    assert_eq!(conn.channel_id(), 7);
    match conn.receive_timeout(WAIT).await.expect("the end") {
        Received::Close {
            code,
            reason,
            error,
        } => {
            assert_eq!(code, 1006);
            assert_eq!(reason, "no answer to pings");
            assert!(error.is_none());
        }
        other => panic!("expected a close, got {other:?}"),
    }
    let _ = release.send(());
    server.await.expect("server task");
}
