//! `chat:chat:sys` as its users meet it: several real clients on a real node, text commands,
//! the JSON mode, bad input, and an archive that outlives a node restart and a crash.

use serde_json::Value;
use switchboard_tests::{procs, Frame, TestNode, WsClient};

const CHAT: &str = "chat:chat:sys";

/// Joins the chat and reads the greeting.
async fn join(node: &TestNode, process: &str) -> (WsClient, String) {
    let (mut client, _) = node.register(process).await;
    let greeting = client.next_text().await;
    (client, greeting)
}

/// Joins, reads the greeting, and switches to JSON with a `who`; returns the client and its
/// hello event (the `who` answer is read too).
async fn join_json(node: &TestNode, process: &str) -> (WsClient, Value) {
    let (mut client, _) = join(node, process).await;
    client.send_text(r#"{"type":"who"}"#).await;
    let hello = client.next_json().await;
    assert_eq!(hello["type"], "hello", "{hello}");
    assert_eq!(client.next_json().await["type"], "who");
    (client, hello)
}

#[tokio::test]
async fn newcomers_get_a_name_a_greeting_and_the_others_are_told() {
    let node = TestNode::start(vec![]).await;
    let (mut a, greeting) = join(&node, CHAT).await;
    assert_eq!(
        greeting,
        "Welcome, user1! You are the only one here. Type /help for the commands."
    );
    let (mut b, greeting) = join(&node, CHAT).await;
    assert_eq!(
        greeting,
        "Welcome, user2! There are 2 people here, you included. Type /help for the commands."
    );
    assert_eq!(a.next_text().await, "* user2 joined; 2 people here");
    b.ws.close(None).await.expect("close");
    assert_eq!(a.next_text().await, "* user2 left; 1 person here");
    // The next newcomer gets a fresh name, not the one that was freed.
    let (_c, greeting) = join(&node, CHAT).await;
    assert!(
        greeting.starts_with("Welcome, user3! There are 2 people"),
        "{greeting}"
    );
}

#[tokio::test]
async fn a_message_reaches_everyone_the_sender_included() {
    let node = TestNode::start(vec![]).await;
    let (mut a, _) = join(&node, CHAT).await;
    let (mut b, _) = join(&node, CHAT).await;
    let (mut c, _) = join(&node, CHAT).await;
    a.next_text().await; // user2 joined
    a.next_text().await; // user3 joined
    b.next_text().await; // user3 joined
    b.send_text("hello, everyone").await;
    for client in [&mut a, &mut b, &mut c] {
        assert_eq!(client.next_text().await, "[user2]: hello, everyone");
    }
}

#[tokio::test]
async fn names_are_unique_and_validated() {
    let node = TestNode::start(vec![]).await;
    let (mut a, _) = join(&node, CHAT).await;
    let (mut b, _) = join(&node, CHAT).await;
    a.next_text().await; // user2 joined

    a.send_text("/name alice").await;
    assert_eq!(a.next_text().await, "* user1 is now alice");
    assert_eq!(b.next_text().await, "* user1 is now alice");

    b.send_text("/name ALICE").await;
    assert_eq!(b.next_text().await, "error: the name ALICE is taken");
    b.send_text(&format!("/name {}", "x".repeat(5000))).await;
    assert_eq!(
        b.next_text().await,
        "error: a name has at most 32 characters; that one has 5000"
    );
    b.send_text("/name two words").await;
    assert_eq!(
        b.next_text().await,
        "error: a name may hold only letters, digits, '-', '_' and '.'; ' ' is not allowed"
    );
    b.send_text("/name").await;
    assert_eq!(b.next_text().await, "error: usage: /name NEW-NAME");

    // Nothing changed for anyone: the errors went to b only, and b is still user2.
    b.send_text("still me").await;
    assert_eq!(a.next_text().await, "[user2]: still me");
    assert_eq!(b.next_text().await, "[user2]: still me");
    a.send_text("/who").await;
    assert_eq!(a.next_text().await, "2 people here: alice, user2");
}

#[tokio::test]
async fn a_whisper_reaches_only_its_target() {
    let node = TestNode::start(vec![]).await;
    let (mut a, _) = join(&node, CHAT).await;
    let (mut b, _) = join(&node, CHAT).await;
    let (mut c, _) = join(&node, CHAT).await;
    a.next_text().await;
    a.next_text().await;
    b.next_text().await;

    a.send_text("/whisper user3 meet me at noon").await;
    assert_eq!(a.next_text().await, "[whisper to user3]: meet me at noon");
    assert_eq!(c.next_text().await, "[whisper from user1]: meet me at noon");

    a.send_text("/whisper nobody hello?").await;
    assert_eq!(
        a.next_text().await,
        "error: nobody called nobody is here; /who lists who is"
    );
    a.send_text("/whisper user3").await;
    assert_eq!(a.next_text().await, "error: usage: /whisper NAME message");

    // b saw none of it: its next frame is the next public message.
    c.send_text("public again").await;
    assert_eq!(b.next_text().await, "[user3]: public again");
    assert_eq!(a.next_text().await, "[user3]: public again");
}

#[tokio::test]
async fn who_history_help_and_unknown_commands() {
    let node = TestNode::start(vec![]).await;
    let (mut a, _) = join(&node, CHAT).await;
    a.send_text("/history").await;
    assert_eq!(a.next_text().await, "No messages yet.");
    for text in ["one", "two", "three"] {
        a.send_text(text).await;
        assert_eq!(a.next_text().await, format!("[user1]: {text}"));
    }
    a.send_text("/history 2").await;
    assert_eq!(
        a.next_text().await,
        "The last 2 messages:\n[user1]: two\n[user1]: three"
    );
    a.send_text("/history").await;
    assert_eq!(
        a.next_text().await,
        "The last 3 messages:\n[user1]: one\n[user1]: two\n[user1]: three"
    );
    a.send_text("/history lots").await;
    assert_eq!(
        a.next_text().await,
        "error: usage: /history [N], N a number from 1"
    );
    a.send_text("/who").await;
    assert_eq!(a.next_text().await, "1 person here: user1");
    a.send_text("/help").await;
    let help = a.next_text().await;
    for command in [
        "/name NEW",
        "/whisper NAME text",
        "/who",
        "/history [N]",
        "/help",
    ] {
        assert!(help.contains(command), "{help}");
    }
    a.send_text("/dance wildly").await;
    let unknown = a.next_text().await;
    assert!(
        unknown.starts_with("Unknown command /dance.\nCommands:"),
        "{unknown}"
    );
}

#[tokio::test]
async fn a_newcomer_is_shown_the_last_twenty_messages() {
    let node = TestNode::start(vec![]).await;
    let (mut a, _) = join(&node, CHAT).await;
    for i in 1..=25 {
        a.send_text(&format!("message {i}")).await;
        assert_eq!(a.next_text().await, format!("[user1]: message {i}"));
    }
    let (mut b, greeting) = join(&node, CHAT).await;
    assert!(greeting.starts_with("Welcome, user2!"), "{greeting}");
    let history = b.next_text().await;
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines[0], "The last 20 messages:");
    assert_eq!(lines[1], "[user1]: message 6");
    assert_eq!(lines[20], "[user1]: message 25");
    assert_eq!(lines.len(), 21);
}

#[tokio::test]
async fn json_mode_answers_with_events_that_carry_ids_and_times() {
    let node = TestNode::start(vec![]).await;
    let (mut text_client, _) = join(&node, CHAT).await;
    let (mut program, hello) = join_json(&node, CHAT).await;
    assert_eq!(hello["name"], "user2");
    assert_eq!(hello["online"], serde_json::json!(["user1", "user2"]));
    assert_eq!(
        text_client.next_text().await,
        "* user2 joined; 2 people here"
    );

    program.send_text(r#"{"type":"say","text":"first"}"#).await;
    let first = program.next_json().await;
    assert_eq!(first["type"], "message");
    assert_eq!(first["from"], "user2");
    assert_eq!(first["text"], "first");
    assert!(
        first["ts"].as_u64().expect("ts") > 1_600_000_000_000,
        "{first}"
    );
    let first_id = first["id"].as_u64().expect("id");
    // The text client sees the same message as a line.
    assert_eq!(text_client.next_text().await, "[user2]: first");

    text_client.send_text("second").await;
    let second = program.next_json().await;
    assert_eq!(second["text"], "second");
    assert!(second["id"].as_u64().expect("id") > first_id);
    assert!(second["ts"].as_u64() >= first["ts"].as_u64());
    text_client.next_text().await;

    program
        .send_text(&format!(r#"{{"type":"history","since":{first_id}}}"#))
        .await;
    let history = program.next_json().await;
    assert_eq!(history["type"], "history");
    assert_eq!(history["messages"].as_array().map(Vec::len), Some(1));
    assert_eq!(history["messages"][0]["text"], "second");

    program
        .send_text(r#"{"type":"whisper","to":"user1","text":"psst"}"#)
        .await;
    let whisper = program.next_json().await;
    assert_eq!(
        (
            &whisper["type"],
            &whisper["from"],
            &whisper["to"],
            &whisper["text"]
        ),
        (
            &"whisper".into(),
            &"user2".into(),
            &"user1".into(),
            &"psst".into()
        )
    );
    assert_eq!(text_client.next_text().await, "[whisper from user2]: psst");

    program.send_text(r#"{"type":"name","name":"robot"}"#).await;
    assert_eq!(
        program.next_json().await,
        serde_json::json!({"type":"rename","from":"user2","to":"robot"})
    );
    assert_eq!(text_client.next_text().await, "* user2 is now robot");
    program.send_text(r#"{"type":"who"}"#).await;
    assert_eq!(
        program.next_json().await,
        serde_json::json!({"type":"who","names":["robot","user1"]})
    );
}

#[tokio::test]
async fn bad_input_gets_an_error_for_its_sender_only() {
    let node = TestNode::start(vec![]).await;
    let (mut bystander, _) = join(&node, CHAT).await;
    let (mut program, _) = join_json(&node, CHAT).await;
    let (mut person, _) = join(&node, CHAT).await;
    bystander.next_text().await; // user2 joined
    bystander.next_text().await; // user3 joined
    program.next_json().await; // user3 joined

    program.send_text(r#"{"type":"say","text":"#).await;
    let error = program.next_json().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "malformed_json");
    program.send_text(r#"{"type":"dance"}"#).await;
    assert_eq!(program.next_json().await["code"], "malformed_json");
    program
        .send_text(r#"{"type":"whisper","to":"ghost","text":"boo"}"#)
        .await;
    let error = program.next_json().await;
    assert_eq!(error["code"], "no_such_person");
    assert_eq!(
        error["message"],
        "nobody called ghost is here; /who lists who is"
    );
    program
        .send_text(&format!(
            r#"{{"type":"name","name":"{}"}}"#,
            "n".repeat(100)
        ))
        .await;
    assert_eq!(program.next_json().await["code"], "invalid_name");
    program.send_binary(&[0x7b, 0xff, 0xfe, 0x00]).await;
    let error = program.next_json().await;
    assert_eq!(error["code"], "not_utf8");

    // Invalid UTF-8 from a person at a text prompt, in a binary frame.
    person.send_binary(b"caf\xe9 au lait").await;
    assert_eq!(
        person.next_text().await,
        "error: messages must be UTF-8 text; that frame was not"
    );
    person.send_text(&"y".repeat(20_000)).await;
    assert_eq!(
        person.next_text().await,
        "error: a message has at most 16384 bytes; that one has 20000"
    );
    // A binary frame of valid UTF-8 is a message like any other.
    person.send_binary("binary but fine".as_bytes()).await;
    assert_eq!(person.next_text().await, "[user3]: binary but fine");

    // The bystander saw only that last message; nobody's state changed.
    assert_eq!(bystander.next_text().await, "[user3]: binary but fine");
    assert_eq!(program.next_json().await["text"], "binary but fine");
    bystander.send_text("/who").await;
    assert_eq!(
        bystander.next_text().await,
        "3 people here: user1, user2, user3"
    );
}

#[tokio::test]
async fn the_archive_survives_a_node_restart() {
    let node = TestNode::start(vec![]).await;
    let (mut a, _) = join_json(&node, CHAT).await;
    a.send_text(r#"{"type":"say","text":"before the restart"}"#)
        .await;
    let before = a.next_json().await;
    let before_id = before["id"].as_u64().expect("id");

    // The client reads while the node shuts down, so its close handshake completes.
    let (node, why) = tokio::join!(node.restart(vec![]), async {
        let why = a.expect_refusal("going_away", 1001).await;
        // Reading on sends our half of the close handshake and sees the socket end.
        assert_eq!(a.next().await, Frame::Ended);
        why
    });
    assert_eq!(why, "the node is shutting down");

    let (mut b, greeting) = join(&node, CHAT).await;
    assert!(greeting.starts_with("Welcome, user1!"), "{greeting}");
    assert_eq!(
        b.next_text().await,
        "The last message:\n[user1]: before the restart"
    );
    b.send_text(r#"{"type":"say","text":"after"}"#).await;
    b.next_json().await; // hello
    let after = b.next_json().await;
    assert!(after["id"].as_u64().expect("id") > before_id, "{after}");
    b.send_text(r#"{"type":"history","since":0}"#).await;
    let history = b.next_json().await;
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["before the restart", "after"]);
}

#[tokio::test]
async fn the_archive_survives_a_crash_of_the_process() {
    let node = TestNode::start(vec![procs::crashable_chat()]).await;
    let chat = "chat:test:sys";
    let (mut a, _) = join(&node, chat).await;
    let (mut b, _) = join(&node, chat).await;
    a.next_text().await; // user2 joined
    a.send_text("remember me").await;
    assert_eq!(a.next_text().await, "[user1]: remember me");
    assert_eq!(b.next_text().await, "[user1]: remember me");

    b.send_text(procs::CHAT_CRASH_WORD).await;
    let why = a.expect_refusal("process_restarted", 1011).await;
    assert!(why.contains("crashed"), "{why}");
    b.expect_refusal("process_restarted", 1011).await;

    let (mut again, greeting) = join(&node, chat).await;
    assert_eq!(
        greeting,
        "Welcome, user1! You are the only one here. Type /help for the commands."
    );
    assert_eq!(
        again.next_text().await,
        "The last message:\n[user1]: remember me"
    );
    again.send_text("and we go on").await;
    assert_eq!(again.next_text().await, "[user1]: and we go on");
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_is_refused_for_that_client_only() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::Message;

    let node = TestNode::start(vec![]).await;
    let (mut a, _) = join(&node, CHAT).await;
    let (mut b, _) = join(&node, CHAT).await;
    a.next_text().await; // user2 joined
    a.send_text("kept").await;
    assert_eq!(a.next_text().await, "[user1]: kept");
    assert_eq!(b.next_text().await, "[user1]: kept");

    // A text frame whose payload is not UTF-8 never reaches the chat: the node fails that
    // socket with 1007, a close frame alone, as RFC 6455 asks.
    let raw = Frame::message(b"caf\xe9".to_vec(), OpCode::Data(Data::Text), true);
    b.ws.send(Message::Frame(raw))
        .await
        .expect("send raw frame");
    b.expect_failure("invalid_frame", 1007).await;

    // Everyone else goes on; the archive is as it was.
    assert_eq!(a.next_text().await, "* user2 left; 1 person here");
    a.send_text("/history").await;
    assert_eq!(a.next_text().await, "The last message:\n[user1]: kept");
}
