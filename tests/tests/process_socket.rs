//! Processes outside the node, over real sockets: a program connects to `/process` with a
//! process token and is the process — clients register to it, requests go both ways, and
//! its connection is its life. Refusals and garbage are answered as the README says.

use std::time::Duration;

use futures_util::SinkExt;
use gateway::ProcessSpec;
use process_lib::{Address, LazyLoadBlob, ProcessId};
use switchboard_tests::outside::{ask, process_socket_url, Outside};
use switchboard_tests::wait::eventually;
use switchboard_tests::{Frame, TestNode, WsClient};
use tokio_tungstenite::tungstenite::Message;

const HOUR: Duration = Duration::from_secs(3600);

fn id(s: &str) -> ProcessId {
    s.parse().expect("process id")
}

/// A raw process socket that has sent `hello`.
async fn hello(node: &TestNode, hello: serde_json::Value) -> WsClient {
    let mut socket = WsClient::connect(&process_socket_url(node)).await;
    socket.send_text(&hello.to_string()).await;
    socket
}

/// A raw process socket registered as `process`; the `Registered` answer is checked.
async fn raw_process(node: &TestNode, process: &str) -> WsClient {
    let token = node.node.mint_process_token(&id(process), HOUR);
    let mut socket = hello(node, serde_json::json!({"auth_token": token})).await;
    let answer = socket.next_json().await;
    assert_eq!(
        answer["Registered"]["our"],
        format!("{}@{process}", node.node.node())
    );
    socket
}

#[tokio::test]
async fn a_client_is_echoed_by_the_echo_function_run_outside_the_node() {
    let node = TestNode::start(vec![]).await;
    let _echo = Outside::start(&node, "echo:echo:ext", processes::echo::run).await;
    let (mut client, _) = node.register("echo:echo:ext").await;
    client.send_text("hello from outside").await;
    assert_eq!(client.next_text().await, "hello from outside");
    client.send_binary(&[0, 1, 2, 255]).await;
    assert_eq!(client.next().await, Frame::Binary(vec![0, 1, 2, 255]));
}

#[tokio::test]
async fn requests_and_responses_go_both_ways_between_outside_and_inside() {
    let outside_addr: Address = "local.os@ask:test:ext".parse().expect("address");
    let inside_addr: Address = "local.os@ask:test:sys".parse().expect("address");
    let inside = ProcessSpec::new(id("ask:test:sys"), {
        let peer = outside_addr.clone();
        move |our| ask(our, peer.clone())
    });
    let node = TestNode::start(vec![inside]).await;
    let _outside = Outside::start(&node, "ask:test:ext", move |our| ask(our, inside_addr)).await;
    let (mut to_outside, _) = node.register("ask:test:ext").await;
    to_outside.send_text("hi").await;
    assert_eq!(
        to_outside.next_text().await,
        "answer: ask:test:sys got hi + b"
    );
    let (mut to_inside, _) = node.register("ask:test:sys").await;
    to_inside.send_text("yo").await;
    assert_eq!(
        to_inside.next_text().await,
        "answer: ask:test:ext got yo + b"
    );
}

#[tokio::test]
async fn a_request_from_outside_to_nobody_bounces_as_it_would_inside() {
    let node = TestNode::start(vec![]).await;
    let nobody: Address = "local.os@nobody:test:sys".parse().expect("address");
    let _outside = Outside::start(&node, "ask:test:ext", move |our| ask(our, nobody)).await;
    let (mut client, _) = node.register("ask:test:ext").await;
    client.send_text("anyone?").await;
    assert_eq!(
        client.next_text().await,
        "failed: message to local.os@nobody:test:sys not delivered: Offline (the target node or process cannot be reached)"
    );
}

#[tokio::test]
async fn wrong_tokens_and_taken_ids_are_refused_with_the_error_frame_and_close_code() {
    let node = TestNode::start(vec![]).await;
    let node_token = node.token();
    let mut socket = hello(
        &node,
        serde_json::json!({"auth_token": node_token, "process": "echo:echo:ext"}),
    )
    .await;
    let message = socket.expect_refusal("unauthorized", 4401).await;
    assert!(message.contains("process token"), "{message}");

    let other = node.node.mint_process_token(&id("chat:chat:ext"), HOUR);
    let mut socket = hello(
        &node,
        serde_json::json!({"auth_token": other, "process": "echo:echo:ext"}),
    )
    .await;
    let message = socket.expect_refusal("unauthorized", 4401).await;
    assert_eq!(
        message,
        "the token is for process chat:chat:ext, not echo:echo:ext"
    );

    let in_node = node.node.mint_process_token(&id("echo:echo:sys"), HOUR);
    let mut socket = hello(&node, serde_json::json!({"auth_token": in_node})).await;
    let message = socket.expect_refusal("process_in_node", 4409).await;
    assert_eq!(
        message,
        "echo:echo:sys runs inside this node; a program cannot be it"
    );

    let _first = raw_process(&node, "echo:echo:ext").await;
    let token = node.node.mint_process_token(&id("echo:echo:ext"), HOUR);
    let mut second = hello(&node, serde_json::json!({"auth_token": token})).await;
    let message = second.expect_refusal("process_taken", 4409).await;
    assert!(
        message.starts_with("another connection is echo:echo:ext"),
        "{message}"
    );

    let mut garbled = hello(&node, serde_json::json!({"token": 5})).await;
    garbled.expect_refusal("malformed_register", 1008).await;
}

#[tokio::test]
async fn a_process_token_is_not_a_client_token() {
    let node = TestNode::start(vec![]).await;
    let token = node.node.mint_process_token(&id("echo:echo:sys"), HOUR);
    let mut client = WsClient::connect(&node.url()).await;
    client.send_register(&token, "echo:echo:sys", false).await;
    let message = client.expect_refusal("unauthorized", 4401).await;
    assert_eq!(
        message,
        "this is a process token: it opens only the process socket, not a channel or a page"
    );
}

#[tokio::test]
async fn the_connection_is_the_process_life() {
    let node = TestNode::start(vec![]).await;
    let mut before = WsClient::connect(&node.url()).await;
    before
        .send_register(&node.token(), "echo:echo:ext", false)
        .await;
    before.expect_refusal("no_such_process", 4404).await;

    let echo = Outside::start(&node, "echo:echo:ext", processes::echo::run).await;
    let (mut client, _) = node.register("echo:echo:ext").await;
    client.send_text("one").await;
    assert_eq!(client.next_text().await, "one");

    echo.kill().await;
    let message = client.expect_refusal("process_restarted", 1011).await;
    assert!(message.contains("disconnected"), "{message}");
    let mut meanwhile = WsClient::connect(&node.url()).await;
    meanwhile
        .send_register(&node.token(), "echo:echo:ext", false)
        .await;
    meanwhile.expect_refusal("no_such_process", 4404).await;

    let _again = Outside::start(&node, "echo:echo:ext", processes::echo::run).await;
    let (mut client, _) = node.register("echo:echo:ext").await;
    client.send_text("two").await;
    assert_eq!(client.next_text().await, "two");
}

/// `flood:test:sys`: on a client's `flood N`, sends `outside` up to N requests of 16 KiB,
/// letting other tasks run between them, and answers with the first refusal and when it came.
fn flooder(outside: Address) -> ProcessSpec {
    ProcessSpec::new(id("flood:test:sys"), move |our: Address| {
        let outside = outside.clone();
        async move {
            loop {
                let message = process_lib::await_message().await?;
                let Ok(process_lib::HttpServerRequest::WebSocketPush { channel_id, .. }) =
                    process_lib::HttpServerRequest::from_json(message.body())
                else {
                    continue;
                };
                let text =
                    String::from_utf8(process_lib::get_blob().unwrap_or_default().bytes.to_vec())?;
                let n: usize = text.trim_start_matches("flood ").parse()?;
                let mut reply = format!("all {n} sent");
                for i in 0..n {
                    let sent = process_lib::Request::to(&outside)
                        .body("flood")
                        .blob_bytes(vec![7u8; 16 * 1024])
                        .send();
                    if let Err(error) = sent {
                        reply = format!("refused after {i}: {error}");
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                process_lib::send_ws_push(
                    &our.node,
                    channel_id,
                    process_lib::WsMessageType::Text,
                    LazyLoadBlob::from_bytes(reply),
                )?;
            }
        }
    })
}

#[tokio::test]
async fn a_process_that_stops_reading_makes_senders_fail_at_once_and_stalls_no_one_else() {
    let (mut config, home) = TestNode::config();
    config.process_mailbox_bytes = 256 * 1024;
    let stuck: Address = "local.os@stuck:test:ext".parse().expect("address");
    let node = TestNode::start_with(config, home, vec![flooder(stuck)]).await;
    // Registered, and never reads a message again.
    let _stuck = Outside::start(&node, "stuck:test:ext", |_| std::future::pending()).await;
    let (mut client, _) = node.register("flood:test:sys").await;
    client.send_text("flood 100000").await;
    let reply = client.next_text().await;
    assert!(
        reply.starts_with("refused after ")
            && reply.ends_with(
                "not delivered: MailboxFull (the target's mailbox is full; try again later)"
            ),
        "{reply}"
    );
    // Everyone else goes on.
    let (mut echo, _) = node.register("echo:echo:sys").await;
    echo.send_text("still here").await;
    assert_eq!(echo.next_text().await, "still here");
    client.send_text("flood 1").await;
    assert_eq!(
        client.next_text().await,
        "refused after 0: message to local.os@stuck:test:ext not delivered: MailboxFull (the target's mailbox is full; try again later)"
    );
}

#[tokio::test]
async fn garbage_is_answered_and_counted_and_repeated_garbage_disconnects() {
    let node = TestNode::start(vec![]).await;
    let mut program = raw_process(&node, "junk:test:ext").await;
    let (mut client, channel_id) = node.register("junk:test:ext").await;
    // The open event arrives first, as for any process.
    let open = program.next_json().await;
    assert_eq!(
        open["Message"]["message"]["Request"]["body"],
        format!(r#"{{"WebSocketOpen":{{"path":"/","channel_id":{channel_id}}}}}"#)
    );

    program.send_text("not json").await;
    let error = program.next_json().await;
    assert_eq!(error["error"]["code"], "malformed_frame");
    program.send_binary(b"a blob with no header").await;
    let error = program.next_json().await;
    assert_eq!(
        error["error"]["message"],
        "a binary frame came with no header announcing a blob before it"
    );
    let push = serde_json::json!({"Push": {"node": "local.os", "channel_id": channel_id,
        "message_type": "Binary", "blob": {"mime": null}}});
    program.send_text(&push.to_string()).await;
    program.send_binary(&vec![0u8; (1 << 20) + 1]).await;
    let error = program.next_json().await;
    assert_eq!(error["error"]["code"], "message_too_big");

    // A good push still works between the garbage.
    program.send_text(&push.to_string()).await;
    program.send_binary(b"fine").await;
    assert_eq!(client.next().await, Frame::Binary(b"fine".to_vec()));

    // Three so far; thirteen more reach the limit of sixteen, and the next is one too many.
    for _ in 0..13 {
        program.send_text("{}").await;
        assert_eq!(
            program.next_json().await["error"]["code"],
            "malformed_frame"
        );
    }
    program.ws.send(Message::text("{}")).await.expect("send");
    let message = program.expect_refusal("malformed_frame", 1008).await;
    assert!(
        message.starts_with("more than 16 malformed frames"),
        "{message}"
    );
    client.expect_refusal("process_restarted", 1011).await;
    assert!(node.node.malformed_process_frames() >= 17);

    let (mut echo, _) = node.register("echo:echo:sys").await;
    echo.send_text("unaffected").await;
    assert_eq!(echo.next_text().await, "unaffected");
    eventually(
        switchboard_tests::WAIT,
        "the id is free again",
        async || node.node.channel_count() == 1,
    )
    .await;
}
