//! The Rust client given several URLs of one node: it opens to the first that answers, moves
//! to another when its node goes away (the chat resumed from the last id it saw, nothing
//! missed and nothing twice) or when its instance of a cluster goes away, passes over a URL
//! that refuses for good, and ends only when every URL has refused.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard_client::{
    connect_with, Backoff, ClientError, Connection, ConnectionState, Options, Received,
};
use switchboard_tests::client::say_in_chat;
use switchboard_tests::nats::NatsServer;
use switchboard_tests::{procs, TestNode, WAIT};
use tokio::sync::mpsc::UnboundedReceiver;

fn moving_between(other_urls: Vec<String>, max_attempts: Option<u32>) -> Options {
    Options {
        reconnect: Some(Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
            max_attempts,
        }),
        other_urls,
        ..Options::default()
    }
}

async fn next_state(states: &mut UnboundedReceiver<ConnectionState>) -> ConnectionState {
    tokio::time::timeout(WAIT, states.recv())
        .await
        .expect("a state change in time")
        .expect("the state stream is open")
}

/// A chat member on the Rust client: every message event it received, by id and text.
struct ChatMember {
    conn: Connection,
    messages: Vec<(u64, String)>,
}

impl ChatMember {
    fn last_id(&self) -> u64 {
        self.messages.last().map_or(0, |(id, _)| *id)
    }

    /// Reads frames until a message with `text` arrives (live or in a history answer).
    async fn until_message(&mut self, text: &str) {
        while !self.messages.iter().any(|(_, t)| t == text) {
            let frame = match self.conn.receive_timeout(WAIT).await.expect("a frame") {
                Received::Text(frame) => frame,
                other => panic!("expected chat frames, got {other:?}"),
            };
            // Plain text is the chat's greeting before the switch to JSON.
            let Ok(event) = serde_json::from_str::<Value>(&frame) else {
                continue;
            };
            let messages = match event["type"].as_str() {
                Some("message") => vec![event],
                Some("history") => event["messages"].as_array().cloned().unwrap_or_default(),
                _ => Vec::new(),
            };
            for message in messages {
                let id = message["id"].as_u64().expect("a message id");
                let said = message["text"].as_str().expect("a text").to_owned();
                self.messages.push((id, said));
            }
        }
    }

    async fn say(&mut self, text: &str) {
        self.conn
            .send_json(&json!({"type": "say", "text": text}))
            .await
            .expect("say");
        self.until_message(text).await;
    }
}

#[tokio::test]
async fn a_client_moves_to_the_other_url_and_resumes_from_its_last_id() {
    let a = TestNode::start(vec![]).await;
    let token = a.token();
    let (a_url, b_addr) = (a.url(), TestNode::unused_addr());
    let b_url = format!("ws://{b_addr}/");
    let conn = connect_with(
        &a_url,
        &token,
        "chat:chat:sys",
        moving_between(vec![b_url.clone()], None),
    )
    .await
    .expect("connect");
    let mut member = ChatMember {
        conn,
        messages: Vec::new(),
    };
    let mut states = member.conn.take_states().expect("states");
    assert!(matches!(
        next_state(&mut states).await,
        ConnectionState::Connected { url, .. } if url == a_url
    ));
    member
        .conn
        .send_json(&json!({"type": "history"}))
        .await
        .expect("switch to JSON");
    member.say("before").await;

    // The node goes away; while neither URL answers, the home serves elsewhere for a moment
    // and a message is archived there: the client cannot have seen it live.
    let elsewhere = a.restart_at(([127, 0, 0, 1], 0).into(), vec![]).await;
    say_in_chat(&elsewhere.url(), &token, "while you were away").await;
    let b = elsewhere.restart_at(b_addr, vec![]).await;

    match next_state(&mut states).await {
        ConnectionState::Disconnected(close) => assert_eq!(close.code, 1001),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    let mut tried = Vec::new();
    loop {
        match next_state(&mut states).await {
            ConnectionState::Reconnecting { url, .. } => tried.push(url),
            ConnectionState::Connected { url, .. } => {
                assert_eq!(url, b_url, "it moved to the other URL");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Round the list from the one after the lost URL: b, a, b, a, … and it ends on b.
    for (n, url) in tried.iter().enumerate() {
        let expected = if n % 2 == 0 { &b_url } else { &a_url };
        assert_eq!(url, expected, "attempt {}: {tried:?}", n + 1);
    }
    let since = member.last_id();
    member
        .conn
        .send_json(&json!({"type": "history", "since": since}))
        .await
        .expect("ask for what was missed");
    member.until_message("while you were away").await;
    member.say("after").await;

    let texts: Vec<&str> = member.messages.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts, ["before", "while you were away", "after"]);
    let ids: Vec<u64> = member.messages.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids rise: {ids:?}");
    assert_eq!(b.node.channel_count(), 1);
    member.conn.close().await;
}

#[tokio::test]
async fn the_first_url_that_answers_is_used() {
    let node = TestNode::start(vec![]).await;
    let dead = format!("ws://{}/", TestNode::unused_addr());
    let mut conn = connect_with(
        &dead,
        &node.token(),
        "echo:echo:sys",
        moving_between(vec![node.url()], None),
    )
    .await
    .expect("connect through the second URL");
    let mut states = conn.take_states().expect("states");
    assert!(matches!(
        next_state(&mut states).await,
        ConnectionState::Connected { url, .. } if url == node.url()
    ));
    conn.send_text("via the second").await.expect("send");
    match conn.receive_timeout(WAIT).await.expect("echo") {
        Received::Text(text) => assert_eq!(text, "via the second"),
        other => panic!("expected the echo, got {other:?}"),
    }
    conn.close().await;
}

#[tokio::test]
async fn a_url_that_refuses_for_good_is_passed_over_until_every_url_has_refused() {
    // Another node with its own secret: it refuses the first node's tokens for good.
    let stranger = TestNode::start(vec![]).await;
    let node = TestNode::start(vec![procs::crashable_chat()]).await;
    let token = node.token();

    let refused = connect_with(
        &stranger.url(),
        "forged",
        "chat:test:sys",
        moving_between(vec![node.url()], None),
    )
    .await
    .expect_err("every URL refuses a forged token");
    assert_eq!(refused.to_string(), "the server refused the connection: the auth token is not valid for this node (unauthorized, close code 4401)");

    let mut conn = connect_with(
        &stranger.url(),
        &token,
        "chat:test:sys",
        moving_between(vec![node.url()], None),
    )
    .await
    .expect("the stranger refuses, the node takes it");
    let mut states = conn.take_states().expect("states");
    assert!(matches!(
        next_state(&mut states).await,
        ConnectionState::Connected { url, .. } if url == node.url()
    ));

    // The node comes back without the process: now it refuses for good too, and the
    // connection ends with its refusal.
    let node = node.restart(vec![]).await;
    let error = loop {
        match conn.receive_timeout(WAIT).await.expect("the end") {
            Received::Error(error) => break error,
            Received::Text(_) => continue,
            other => panic!("expected the refusal, got {other:?}"),
        }
    };
    assert!(
        matches!(&error, ClientError::Refused { code, close_code: 4404, .. } if code == "no_such_process"),
        "{error}"
    );
    let mut tried = Vec::new();
    loop {
        match next_state(&mut states).await {
            ConnectionState::Reconnecting { url, .. } => tried.push(url),
            ConnectionState::Closed => break,
            ConnectionState::Disconnected(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        tried.iter().filter(|url| **url == stranger.url()).count(),
        1,
        "the stranger is asked once: {tried:?}"
    );
    assert_eq!(tried.last(), Some(&node.url()));
}

#[tokio::test]
async fn a_client_of_a_cluster_moves_to_another_instance_when_its_own_goes() {
    let nats = NatsServer::start().await;
    let secret = tempfile::tempdir().expect("a directory for the secret");
    let secret_file = secret.path().join("token-secret");
    std::fs::write(&secret_file, format!("{}\n", "3c".repeat(32))).expect("write the secret");
    let mut instances = Vec::new();
    for _ in 0..2 {
        let (mut config, home) = TestNode::config();
        config.node = "moving.os".to_owned();
        config.cluster = Some(gateway::config::ClusterConfig::new(nats.url()));
        config.token_secret_file = Some(secret_file.clone());
        instances.push(TestNode::start_with(config, home, vec![]).await);
    }
    let second = instances.pop().expect("two instances");
    let first = instances.pop().expect("two instances");
    let mut conn = connect_with(
        &first.url(),
        &first.token(),
        "echo:echo:sys",
        moving_between(vec![second.url()], None),
    )
    .await
    .expect("connect");
    let mut states = conn.take_states().expect("states");
    assert_eq!(conn.channel_id() >> 24, 1, "a channel of instance 1");
    assert!(matches!(
        next_state(&mut states).await,
        ConnectionState::Connected { .. }
    ));

    first.node.shutdown().await;
    let channel_id = loop {
        match next_state(&mut states).await {
            ConnectionState::Disconnected(_) | ConnectionState::Reconnecting { .. } => {}
            ConnectionState::Connected { channel_id, url } => {
                assert_eq!(url, second.url());
                break channel_id;
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(
        channel_id >> 24,
        2,
        "a channel of instance 2: {channel_id:#x}"
    );
    conn.send_text("on instance 2").await.expect("send");
    match conn.receive_timeout(WAIT).await.expect("echo") {
        Received::Text(text) => assert_eq!(text, "on instance 2"),
        other => panic!("expected the echo, got {other:?}"),
    }
    conn.close().await;
}
