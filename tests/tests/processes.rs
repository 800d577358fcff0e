//! What processes see and can do: event order, `send_ws_push` errors, several frames to
//! several channels in one `send_ws_push_frames`, the seed's handler, restarts after a
//! panic, and slow consumers.

use std::time::Duration;

use process_lib::{HttpServerError, HttpServerRequest, WsMessageType};
use switchboard_tests::{procs, Frame, TestNode, WAIT};
use tokio::sync::mpsc;

async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("an event in time")
        .expect("sender alive")
}

#[tokio::test]
async fn a_process_sees_open_pushes_and_close_in_order() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let node = TestNode::start(vec![procs::recorder(tx)]).await;
    let (mut client, channel_id) = node.register("recorder:test:sys").await;
    client.send_text("one").await;
    client.send_binary(b"two").await;
    client.send_text("three").await;
    client.ws.close(None).await.expect("close");
    let expected = [
        (
            HttpServerRequest::WebSocketOpen {
                path: "/".into(),
                channel_id,
            },
            None,
        ),
        (
            HttpServerRequest::WebSocketPush {
                channel_id,
                message_type: WsMessageType::Text,
            },
            Some(b"one".to_vec()),
        ),
        (
            HttpServerRequest::WebSocketPush {
                channel_id,
                message_type: WsMessageType::Binary,
            },
            Some(b"two".to_vec()),
        ),
        (
            HttpServerRequest::WebSocketPush {
                channel_id,
                message_type: WsMessageType::Text,
            },
            Some(b"three".to_vec()),
        ),
        (HttpServerRequest::WebSocketClose(channel_id), None),
    ];
    for want in expected {
        assert_eq!(recv(&mut events).await, want);
    }
}

#[tokio::test]
async fn send_ws_push_refuses_unknown_and_foreign_channels() {
    let (tx, _events) = mpsc::unbounded_channel();
    let node = TestNode::start(vec![procs::recorder(tx)]).await;
    let (mut recorder, own) = node.register("recorder:test:sys").await;
    let (mut echo_client, foreign) = node.register("echo:echo:sys").await;

    recorder.send_text(&format!("push-to:{}", own + 1000)).await;
    assert_eq!(recorder.next_text().await, "Err(WsChannelNotFound)");
    recorder.send_text(&format!("push-to:{foreign}")).await;
    assert_eq!(recorder.next_text().await, "Err(InvalidSourceProcess)");
    recorder.send_text(&format!("push-to:{own}")).await;
    assert_eq!(recorder.next_text().await, "hello");
    assert_eq!(recorder.next_text().await, "Ok(())");

    // The same through a request to http-server, answered in Kinode's JSON.
    recorder.send_text(&format!("action-to:{foreign}")).await;
    assert_eq!(
        recorder.next_text().await,
        r#"{"Err":"InvalidSourceProcess"}"#
    );
    recorder
        .send_text(&format!("action-to:{}", own + 1000))
        .await;
    assert_eq!(recorder.next_text().await, r#"{"Err":"WsChannelNotFound"}"#);
    recorder.send_text(&format!("action-to:{own}")).await;
    assert_eq!(recorder.next_text().await, "hello");
    assert_eq!(recorder.next_text().await, r#"{"Ok":null}"#);

    // The echo client saw none of it.
    echo_client.send_text("only mine").await;
    assert_eq!(echo_client.next_text().await, "only mine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_pushed_together_reach_every_client_each_as_its_own_frame_in_order() {
    let node = TestNode::start(vec![procs::burster()]).await;
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (client, id) = node.register("burst:test:sys").await;
        clients.push(client);
        ids.push(id);
    }
    let (mut foreign, foreign_id) = node.register("echo:echo:sys").await;
    let list = |ids: &[u32]| ids.iter().map(u32::to_string).collect::<Vec<_>>().join(" ");

    // Two bursts back to back, the second while the first may still be on the wire.
    let (first, second) = (9, 40);
    let mut targets = ids.clone();
    targets.push(foreign_id);
    clients[0]
        .send_text(&format!("{first} {}", list(&targets)))
        .await;
    clients[0]
        .send_text(&format!("{second} {}", list(&ids)))
        .await;
    let refused = format!("failed: [({foreign_id}, InvalidSourceProcess)]");
    for (at, client) in clients.iter_mut().enumerate() {
        for count in [first, second] {
            if at == 0 && count == second {
                assert_eq!(client.next_text().await, refused);
            }
            for i in 0..count {
                assert_eq!(client.next_text().await, procs::burst_frame(i, count));
            }
        }
        if at == 0 {
            assert_eq!(client.next_text().await, "failed: []");
        }
    }
    // The echo client, bound to another process, got none of it.
    foreign.send_text("only mine").await;
    assert_eq!(foreign.next_text().await, "only mine");

    // A burst with a blob that cannot be a text frame goes to nobody.
    clients[1].send_text(&format!("bad {}", list(&ids))).await;
    let malformed: Vec<String> = ids
        .iter()
        .map(|id| format!("({id}, MalformedRequest)"))
        .collect();
    assert_eq!(
        clients[1].next_text().await,
        format!("failed: [{}]", malformed.join(", "))
    );
    clients[2].send_text(&format!("2 {}", ids[2])).await;
    assert_eq!(clients[2].next_text().await, procs::burst_frame(0, 2));
    assert_eq!(clients[2].next_text().await, procs::burst_frame(1, 2));
    assert_eq!(clients[2].next_text().await, "failed: []");
}

#[tokio::test]
async fn the_seed_handler_ported_keeps_channels_and_archive() {
    let node = TestNode::start(vec![procs::archive::spec()]).await;
    let (mut alice, _) = node.register("archive:test:sys").await;
    let (mut bob, _) = node.register("archive:test:sys").await;
    alice
        .send_text(r#"{"Send":{"author":"alice","content":"hi bob"}}"#)
        .await;
    let expected = r#"{"NewMessage":{"author":"alice","content":"hi bob"}}"#;
    assert_eq!(alice.next_text().await, expected);
    assert_eq!(bob.next_text().await, expected);
    // Bob leaves; the archive forgets his channel but keeps the message.
    bob.ws.close(None).await.expect("close");
    let (mut carol, _) = node.register("archive:test:sys").await;
    carol.send_text(r#""History""#).await;
    assert_eq!(
        carol.next_text().await,
        r#"{"History":[["alice","hi bob"]]}"#
    );
    // Bad input is dropped without harming anyone.
    carol.send_text("not json").await;
    alice
        .send_text(r#"{"Send":{"author":"alice","content":"still here"}}"#)
        .await;
    let expected = r#"{"NewMessage":{"author":"alice","content":"still here"}}"#;
    assert_eq!(alice.next_text().await, expected);
    assert_eq!(carol.next_text().await, expected);
}

#[tokio::test]
async fn a_panicking_process_restarts_and_its_clients_get_1011() {
    let node = TestNode::start(vec![procs::crasher()]).await;
    let (mut a, _) = node.register("crash:test:sys").await;
    let (mut b, _) = node.register("crash:test:sys").await;
    let (mut echo, _) = node.register("echo:echo:sys").await;
    a.send_text("who").await;
    assert_eq!(a.next_text().await, "instance 1");
    a.send_text("panic").await;
    let message = a.expect_refusal("process_restarted", 1011).await;
    assert!(message.contains("restarted"), "{message}");
    b.expect_refusal("process_restarted", 1011).await;
    // Other processes' channels are untouched.
    echo.send_text("unaffected").await;
    assert_eq!(echo.next_text().await, "unaffected");
    // Clients reconnect to the fresh instance.
    let (mut again, _) = node.register("crash:test:sys").await;
    again.send_text("who").await;
    assert_eq!(again.next_text().await, "instance 2");
}

#[tokio::test]
async fn a_slow_reader_is_closed_while_a_fast_one_keeps_going() {
    let (report_tx, mut reports) = mpsc::unbounded_channel();
    let (mut config, home) = TestNode::config();
    config.close_timeout = Duration::from_secs(30);
    let node = TestNode::start_with(config, home, vec![procs::flooder(report_tx)]).await;
    let (mut fast, _) = node.register("echo:echo:sys").await;
    let (mut slow, _) = node.register("flood:test:sys").await;

    // The slow client asks for a flood and does not read.
    slow.send_text("flood").await;
    assert_eq!(recv(&mut reports).await, HttpServerError::SlowConsumer);

    // Meanwhile the fast client's round trips go on.
    for i in 0..100 {
        let text = format!("ping {i}");
        fast.send_text(&text).await;
        assert_eq!(fast.next_text().await, text);
    }

    // When the slow client finally reads, it gets what was accepted, then the reason.
    let mut frames = 0usize;
    loop {
        match slow.next().await {
            Frame::Binary(bytes) => {
                assert_eq!(bytes.len(), 64 * 1024);
                frames += 1;
            }
            Frame::Text(text) => {
                let error: serde_json::Value = serde_json::from_str(&text).expect("error frame");
                assert_eq!(error["error"]["code"], "slow_consumer");
                break;
            }
            other => panic!("unexpected {other:?} after {frames} frames"),
        }
    }
    assert!(frames > 0);
    assert_eq!(
        slow.next().await,
        Frame::Close(1008, "slow_consumer".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_pushed_faster_than_the_socket_drains_arrive_whole_and_in_order() {
    let (mut config, home) = TestNode::config();
    config.writer_queue_bytes = 64 << 20;
    let node = TestNode::start_with(config, home, vec![procs::sequencer()]).await;
    let (mut client, _) = node.register("sequence:test:sys").await;
    // One long burst, then many short ones sent back to back: the first frame of each
    // answer may be written at once while the rest wait in the queue.
    let mut asks = vec![20_000u32];
    asks.extend(std::iter::repeat_n(60, 200));
    for count in &asks {
        client.send_text(&count.to_string()).await;
    }
    for count in asks {
        for expected in 0..count {
            let text = client.next_text().await;
            assert_eq!(text.len(), 1024, "frame {expected} has the wrong length");
            assert_eq!(text.trim_end(), expected.to_string(), "frames out of order");
        }
    }
}
