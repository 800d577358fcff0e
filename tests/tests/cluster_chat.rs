//! `chat:chat:sys` on a clustered node is one room: instances of one node on a real NATS
//! server, clients on each. Messages from every instance reach every member once and in one
//! order, `history since` answers the same everywhere, `/who` lists the whole room, names are
//! unique across it, a late instance sees the history, and a restart of NATS loses no message
//! a sender saw accepted.

use serde_json::Value;
use switchboard_tests::cluster::{cluster, Cluster};
use switchboard_tests::{eventually, WsClient, WAIT};

const CHAT: &str = "chat:chat:sys";

/// A member on instance `on`, switched to JSON; returns the client and its name.
async fn member(cluster: &Cluster, on: usize) -> (WsClient, String) {
    let (mut client, _) = cluster.client(on, CHAT).await;
    let greeting = client.next_text().await;
    assert!(greeting.starts_with("Welcome, "), "{greeting}");
    client.send_text(r#"{"type":"help"}"#).await;
    let hello = next_of(&mut client, "hello").await;
    let name = hello["name"].as_str().expect("a name").to_owned();
    next_of(&mut client, "help").await;
    (client, name)
}

/// The next JSON event of `kind`, skipping others (joins, leaves, text from before JSON).
async fn next_of(client: &mut WsClient, kind: &str) -> Value {
    loop {
        let text = client.next_text().await;
        if let Ok(event) = serde_json::from_str::<Value>(&text) {
            if event["type"] == kind {
                return event;
            }
        }
    }
}

/// The next `n` messages `client` is shown, as `(id, from, text)`.
async fn messages(client: &mut WsClient, n: usize) -> Vec<(u64, String, String)> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let event = next_of(client, "message").await;
        seen.push(line(&event));
    }
    seen
}

fn line(event: &Value) -> (u64, String, String) {
    (
        event["id"].as_u64().expect("an id"),
        event["from"].as_str().expect("a name").to_owned(),
        event["text"].as_str().expect("a text").to_owned(),
    )
}

async fn say(client: &mut WsClient, text: &str) {
    let command = serde_json::json!({"type": "say", "text": text});
    client.send_text(&command.to_string()).await;
}

/// Every message after `id`, as `client`'s instance answers `history since`.
async fn history_since(client: &mut WsClient, id: u64) -> Vec<(u64, String, String)> {
    let command = serde_json::json!({"type": "history", "since": id});
    client.send_text(&command.to_string()).await;
    let event = next_of(client, "history").await;
    event["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(line)
        .collect()
}

async fn who(client: &mut WsClient) -> Vec<String> {
    client.send_text(r#"{"type":"who"}"#).await;
    let event = next_of(client, "who").await;
    serde_json::from_value(event["names"].clone()).expect("names")
}

#[tokio::test]
async fn messages_from_three_instances_reach_everyone_in_one_order() {
    let mut cluster = cluster(3).await;
    let mut members = Vec::new();
    for on in 0..3 {
        members.push(member(&cluster, on).await);
    }
    let names: Vec<String> = members.iter().map(|(_, name)| name.clone()).collect();
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        3,
        "names are unique across the room: {names:?}"
    );
    assert_eq!(
        who(&mut members[0].0).await,
        distinct,
        "/who lists every instance's members"
    );

    for round in 0..3 {
        for (on, (client, _)) in members.iter_mut().enumerate() {
            say(client, &format!("m{round} from {on}")).await;
        }
    }
    let mut seen = Vec::new();
    for (client, _) in &mut members {
        seen.push(messages(client, 9).await);
    }
    assert_eq!(seen[0], seen[1], "instances 1 and 2 show one order");
    assert_eq!(seen[0], seen[2], "instances 1 and 3 show one order");
    let ids: Vec<u64> = seen[0].iter().map(|(id, _, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    for (on, name) in names.iter().enumerate() {
        let said: Vec<&str> = seen[0]
            .iter()
            .filter(|(_, from, _)| from == name)
            .map(|(_, _, text)| text.as_str())
            .collect();
        let expected: Vec<String> = (0..3).map(|round| format!("m{round} from {on}")).collect();
        assert_eq!(
            said, expected,
            "{name}'s messages, once each, in the order said"
        );
    }

    let mut answers = Vec::new();
    for (client, _) in &mut members {
        answers.push(history_since(client, ids[2]).await);
    }
    assert_eq!(answers[0], seen[0][3..], "history since the third message");
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], answers[2]);

    // A fourth instance joining now sees the conversation.
    cluster.add().await;
    let (mut late, _) = cluster.client(3, CHAT).await;
    late.next_text().await; // the greeting
    let history = late.next_text().await;
    let mut expected = "The last 9 messages:".to_owned();
    for (_, from, text) in &seen[0] {
        expected.push_str(&format!("\n[{from}]: {text}"));
    }
    assert_eq!(history, expected);
    late.send_text(r#"{"type":"history","since":0}"#).await;
    let event = next_of(&mut late, "history").await;
    let all: Vec<_> = event["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(line)
        .collect();
    assert_eq!(all, seen[0]);
    say(&mut late, "hello from 4").await;
    for (client, _) in &mut members {
        assert_eq!(messages(client, 1).await[0].2, "hello from 4");
    }
}

#[tokio::test]
async fn names_are_claimed_across_the_room_and_joins_are_told_everywhere() {
    let cluster = cluster(2).await;
    let (mut a, _) = member(&cluster, 0).await;
    let (mut b, b_name) = member(&cluster, 1).await;
    let joined = next_of(&mut a, "join").await;
    assert_eq!(
        joined["name"],
        b_name.as_str(),
        "a join on instance 2 is told on 1"
    );
    assert_eq!(joined["online"], 2);

    a.send_text(r#"{"type":"name","name":"alice"}"#).await;
    assert_eq!(next_of(&mut a, "rename").await["to"], "alice");
    assert_eq!(next_of(&mut b, "rename").await["to"], "alice");
    b.send_text(r#"{"type":"name","name":"Alice"}"#).await;
    let refused = next_of(&mut b, "error").await;
    assert_eq!(refused["code"], "name_taken");
    assert_eq!(refused["message"], "the name Alice is taken");

    // A whisper reaches a member of another instance, and only them.
    b.send_text(r#"{"type":"whisper","to":"ALICE","text":"psst"}"#)
        .await;
    let heard = next_of(&mut a, "whisper").await;
    assert_eq!(
        (&heard["from"], &heard["to"], &heard["text"]),
        (
            &Value::from(b_name.as_str()),
            &Value::from("alice"),
            &Value::from("psst")
        )
    );
    let sent = next_of(&mut b, "whisper").await;
    assert_eq!(sent["to"], "alice", "the sender sees it once it was shown");
    b.send_text(r#"{"type":"whisper","to":"nobody","text":"psst"}"#)
        .await;
    let refused = next_of(&mut b, "error").await;
    assert_eq!(refused["code"], "no_such_person");

    drop(a);
    let left = next_of(&mut b, "leave").await;
    assert_eq!(left["name"], "alice");
    eventually(WAIT, "/who on instance 2 drops alice", async || {
        who(&mut b).await == [b_name.clone()]
    })
    .await;
    b.send_text(r#"{"type":"name","name":"alice"}"#).await;
    assert_eq!(
        next_of(&mut b, "rename").await["to"],
        "alice",
        "a freed name is free"
    );
}

#[tokio::test]
async fn a_restart_of_nats_loses_no_accepted_message() {
    let mut cluster = cluster(2).await;
    let (mut a, _) = member(&cluster, 0).await;
    let (mut b, _) = member(&cluster, 1).await;
    say(&mut a, "before").await;
    let before = messages(&mut b, 1).await;
    messages(&mut a, 1).await;

    cluster.nats.stop().await;
    for instance in &cluster.instances {
        tokio::time::timeout(WAIT, instance.node.node.wait_cluster_up(false))
            .await
            .expect("the instance notices NATS is gone");
    }
    say(&mut a, "while away").await;
    let refused = next_of(&mut a, "error").await;
    assert_eq!(refused["code"], "archive_failed", "{refused}");
    // The chat goes on for its own members: a newcomer is greeted, and /who answers with
    // this instance's members.
    let (mut newcomer, newcomer_name) = member(&cluster, 0).await;
    let names = who(&mut newcomer).await;
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&newcomer_name), "{names:?}");

    cluster.nats.start_again().await;
    // Said until the room takes it again: each try is refused or accepted, never silent.
    let mut accepted = None;
    eventually(WAIT, "the room takes messages again", async || {
        say(&mut a, "after").await;
        loop {
            let text = a.next_text().await;
            let event: Value = serde_json::from_str(&text).unwrap_or_default();
            match event["type"].as_str() {
                Some("message") => {
                    accepted = Some(line(&event));
                    return true;
                }
                Some("error") => return false,
                _ => {}
            }
        }
    })
    .await;
    let accepted = accepted.expect("accepted");
    assert_eq!(accepted.2, "after");
    // Instance 2 shows it too, once, with the same id, after the message from before.
    let mut shown = Vec::new();
    while shown.last() != Some(&accepted) {
        shown.extend(messages(&mut b, 1).await);
    }
    assert_eq!(
        shown,
        std::slice::from_ref(&accepted),
        "only the accepted message, once"
    );
    let expected = vec![before[0].clone(), accepted];
    assert_eq!(history_since(&mut a, 0).await, expected);
    assert_eq!(history_since(&mut b, 0).await, expected);
}
