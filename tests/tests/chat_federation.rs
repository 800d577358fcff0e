//! `chat:chat:sys` across nodes, as its users meet it: real nodes linked by Noise over
//! loopback, real clients on each, one room. What a client on alice says is seen on bob as
//! `[user1@alice.os]: …`, whispers cross to one member, history holds the whole room, a node
//! that goes down leaves the others working, and three nodes show each message once.

use gateway::ProcessSpec;
use process_lib::{await_message, Address, Message, Request};
use serde_json::Value;
use switchboard_tests::mesh::{net_addr, wait_linked, Plan};
use switchboard_tests::{TestNode, WsClient};

const CHAT: &str = "chat:chat:sys";
const ALICE: &str = "alice.os";
const BOB: &str = "bob.os";
const CAROL: &str = "carol.os";

/// Alice (listening) and bob (dialing alice), peers of each other, linked both ways.
async fn alice_and_bob() -> (TestNode, TestNode) {
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    alice.peer(BOB, bob.key, None, false);
    let alice_key = alice.key;
    let alice = alice.start(vec![]).await;
    bob.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    let bob = bob.start(vec![]).await;
    wait_linked(&alice, BOB, true).await;
    wait_linked(&bob, ALICE, true).await;
    (alice, bob)
}

/// Where the chat meets a peer that misbehaves: the real chat on alice, the rogue on bob,
/// both under this id (a chat federates with the process of its own id on each peer).
const ROGUE_CHAT: &str = "rogue-chat:test:sys";

/// The real chat under [`ROGUE_CHAT`].
fn real_chat() -> ProcessSpec {
    ProcessSpec::new(ROGUE_CHAT.parse().expect("id"), processes::chat::run)
}

/// A peer chat gone wrong: to the first relayed message it answers with garbage, a relay whose
/// name breaks the rules, an answer to no whisper, then one good relay; whispers it swallows
/// without an answer.
fn rogue_chat() -> ProcessSpec {
    ProcessSpec::new(ROGUE_CHAT.parse().expect("id"), rogue)
}

async fn rogue(_our: Address) -> anyhow::Result<()> {
    let mut answered = false;
    loop {
        let Ok(Message::Request {
            source,
            expects_response: None,
            ..
        }) = await_message().await
        else {
            continue;
        };
        if std::mem::replace(&mut answered, true) {
            continue;
        }
        let oversized = format!(
            r#"{{"Relay":{{"from":"user1","text":"{}","ts":1}}}}"#,
            "x".repeat(20_000)
        );
        for body in [
            "garbage",
            r#"{"Relay":{"from":"bad name","text":"x","ts":1}}"#,
            r#"{"Delivered":{"id":1,"to":"nobody"}}"#,
            &oversized,
            r#"{"Relay":{"from":"rogue","text":"after the garbage","ts":1}}"#,
        ] {
            Request::to(source.clone()).body(body).send()?;
        }
    }
}

/// Joins the chat on `node` and reads the greeting.
async fn join(node: &TestNode) -> (WsClient, String) {
    join_to(node, CHAT).await
}

async fn join_to(node: &TestNode, process: &str) -> (WsClient, String) {
    let (mut client, _) = node.register(process).await;
    let greeting = client.next_text().await;
    (client, greeting)
}

#[tokio::test]
async fn clients_on_two_nodes_see_each_others_messages() {
    let (alice, bob) = alice_and_bob().await;
    let (mut a, greeting) = join(&alice).await;
    assert!(greeting.starts_with("Welcome, user1! You are the only one"));
    let (mut b, greeting) = join(&bob).await;
    assert!(greeting.starts_with("Welcome, user1! You are the only one"));

    a.send_text("hello from alice").await;
    assert_eq!(a.next_text().await, "[user1]: hello from alice");
    assert_eq!(b.next_text().await, "[user1@alice.os]: hello from alice");

    b.send_text("/name bea").await;
    assert_eq!(b.next_text().await, "* user1 is now bea");
    b.send_text("hi alice").await;
    assert_eq!(b.next_text().await, "[bea]: hi alice");
    assert_eq!(a.next_text().await, "[bea@bob.os]: hi alice");

    // A JSON client is told the author's node in a field of its own.
    let (mut j, _) = join(&bob).await;
    assert_eq!(b.next_text().await, "* user2 joined; 2 people here");
    j.next_text().await; // the last messages, in text
    j.send_text(r#"{"type":"who"}"#).await;
    assert_eq!(j.next_json().await["type"], "hello");
    assert_eq!(j.next_json().await["type"], "who");
    a.send_text("in JSON too").await;
    assert_eq!(a.next_text().await, "[user1]: in JSON too");
    assert_eq!(b.next_text().await, "[user1@alice.os]: in JSON too");
    let event = j.next_json().await;
    assert_eq!(
        (
            &event["type"],
            &event["from"],
            &event["node"],
            &event["text"]
        ),
        (
            &Value::from("message"),
            &Value::from("user1"),
            &Value::from(ALICE),
            &Value::from("in JSON too")
        ),
        "{event}"
    );
    assert!(event["id"].as_u64().is_some(), "{event}");
}

#[tokio::test]
async fn a_whisper_crosses_to_one_member_of_the_other_node() {
    let (alice, bob) = alice_and_bob().await;
    let (mut a, _) = join(&alice).await;
    let (mut a_bystander, _) = join(&alice).await;
    assert_eq!(a.next_text().await, "* user2 joined; 2 people here");
    let (mut b_bystander, _) = join(&bob).await;
    let (mut zed, _) = join(&bob).await;
    assert_eq!(
        b_bystander.next_text().await,
        "* user2 joined; 2 people here"
    );
    zed.send_text("/name zed").await;
    assert_eq!(zed.next_text().await, "* user2 is now zed");
    assert_eq!(b_bystander.next_text().await, "* user2 is now zed");

    a.send_text("/whisper zed@bob.os meet me at noon").await;
    assert_eq!(
        a.next_text().await,
        "[whisper to zed@bob.os]: meet me at noon"
    );
    assert_eq!(
        zed.next_text().await,
        "[whisper from user1@alice.os]: meet me at noon"
    );
    // Names are matched ignoring case, and the answer says the name as its holder has it.
    a.send_text("/w ZED@bob.os again").await;
    assert_eq!(a.next_text().await, "[whisper to zed@bob.os]: again");
    assert_eq!(
        zed.next_text().await,
        "[whisper from user1@alice.os]: again"
    );

    // Zed answers in JSON: the event names both ends, the remote one with its node.
    zed.send_text(r#"{"type":"whisper","to":"user1@alice.os","text":"ok"}"#)
        .await;
    let hello = zed.next_json().await;
    assert_eq!(hello["type"], "hello", "{hello}");
    let copy = zed.next_json().await;
    assert_eq!(
        (&copy["type"], &copy["from"], &copy["to"], &copy["text"]),
        (
            &Value::from("whisper"),
            &Value::from("zed"),
            &Value::from("user1@alice.os"),
            &Value::from("ok")
        ),
        "{copy}"
    );
    assert_eq!(a.next_text().await, "[whisper from zed@bob.os]: ok");

    // Nobody else saw any of it: their next frame is the public message that follows.
    a.send_text("public now").await;
    assert_eq!(a.next_text().await, "[user1]: public now");
    assert_eq!(a_bystander.next_text().await, "[user1]: public now");
    assert_eq!(
        b_bystander.next_text().await,
        "[user1@alice.os]: public now"
    );
    assert_eq!(zed.next_json().await["text"], "public now");

    a.send_text("/whisper nobody@bob.os hello?").await;
    assert_eq!(
        a.next_text().await,
        "error: nobody called nobody@bob.os is here; /who lists who is"
    );
    a.send_text("/whisper zed@ hello?").await;
    assert_eq!(
        a.next_text().await,
        "error: nobody called zed@ is here; /who lists who is"
    );
    // Our own node's name is the local room.
    a.send_text("/whisper user2@alice.os psst").await;
    assert_eq!(a.next_text().await, "[whisper to user2]: psst");
    assert_eq!(a_bystander.next_text().await, "[whisper from user1]: psst");
    a.send_text("/whisper zed@carol.os hello?").await;
    assert_eq!(
        a.next_text().await,
        "error: the whisper was not delivered: carol.os is not linked to this node now"
    );
    a.send_text(r#"{"type":"whisper","to":"nobody@bob.os","text":"hi"}"#)
        .await;
    assert_eq!(a.next_json().await["type"], "hello");
    let error = a.next_json().await;
    assert_eq!(
        (&error["type"], &error["code"]),
        (&Value::from("error"), &Value::from("no_such_person")),
        "{error}"
    );
}

#[tokio::test]
async fn a_newcomer_on_bob_is_shown_what_was_said_on_alice() {
    let (alice, bob) = alice_and_bob().await;
    let (mut a, _) = join(&alice).await;
    let (mut b, _) = join(&bob).await;
    a.send_text("said before you came").await;
    assert_eq!(a.next_text().await, "[user1]: said before you came");
    // Shown on bob only once it is in bob's archive.
    assert_eq!(
        b.next_text().await,
        "[user1@alice.os]: said before you came"
    );
    b.send_text("and one from bob").await;
    assert_eq!(b.next_text().await, "[user1]: and one from bob");
    assert_eq!(a.next_text().await, "[user1@bob.os]: and one from bob");

    let (mut late, greeting) = join(&bob).await;
    assert!(greeting.starts_with("Welcome, user2!"), "{greeting}");
    assert_eq!(
        late.next_text().await,
        "The last 2 messages:\n[user1@alice.os]: said before you came\n[user1]: and one from bob"
    );
    // And in JSON, with the node and an id of bob's archive, so `since` resumes from it.
    late.send_text(r#"{"type":"history","since":0}"#).await;
    assert_eq!(late.next_json().await["type"], "hello");
    let history = late.next_json().await;
    let messages = history["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2, "{history}");
    assert_eq!(messages[0]["node"], ALICE, "{history}");
    assert!(messages[1].get("node").is_none(), "{history}");
    assert!(messages[0]["id"].as_u64() < messages[1]["id"].as_u64());
}

#[tokio::test]
async fn with_bob_down_the_chat_on_alice_keeps_working_and_bob_rejoins_later() {
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    alice.peer(BOB, bob.key, None, false);
    let alice_key = alice.key;
    let alice = alice.start(vec![]).await;
    bob.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    let bob_config = bob.config.clone();
    let bob = bob.start(vec![]).await;
    wait_linked(&alice, BOB, true).await;
    let (mut a, _) = join(&alice).await;
    let (mut a2, _) = join(&alice).await;
    assert_eq!(a.next_text().await, "* user2 joined; 2 people here");
    let (mut b, _) = join(&bob).await;
    a.send_text("bob, are you there?").await;
    assert_eq!(b.next_text().await, "[user1@alice.os]: bob, are you there?");

    let TestNode { node, home } = bob;
    node.shutdown().await;
    wait_linked(&alice, BOB, false).await;

    for client in [&mut a, &mut a2] {
        assert_eq!(client.next_text().await, "[user1]: bob, are you there?");
    }
    a.send_text("bob is gone").await;
    for client in [&mut a, &mut a2] {
        assert_eq!(client.next_text().await, "[user1]: bob is gone");
    }
    a.send_text("/whisper user1@bob.os still there?").await;
    assert_eq!(
        a.next_text().await,
        "error: the whisper was not delivered: bob.os is not linked to this node now"
    );
    a2.send_text("/who").await;
    assert_eq!(a2.next_text().await, "2 people here: user1, user2");

    // Bob comes back on the same home: the room goes on, without what bob missed.
    let bob = TestNode::start_with(bob_config, home, vec![]).await;
    wait_linked(&alice, BOB, true).await;
    wait_linked(&bob, ALICE, true).await;
    let (mut b, _) = join(&bob).await;
    assert_eq!(
        b.next_text().await,
        "The last message:\n[user1@alice.os]: bob, are you there?"
    );
    a.send_text("welcome back").await;
    assert_eq!(a.next_text().await, "[user1]: welcome back");
    assert_eq!(b.next_text().await, "[user1@alice.os]: welcome back");
}

#[tokio::test]
async fn three_nodes_show_each_message_once_to_everyone() {
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    let mut carol = Plan::new(CAROL);
    let (alice_key, bob_key, carol_key) = (alice.key, bob.key, carol.key);
    alice.peer(BOB, bob_key, None, false);
    alice.peer(CAROL, carol_key, None, false);
    let alice = alice.start(vec![]).await;
    bob.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    bob.peer(CAROL, carol_key, None, false);
    let bob = bob.start(vec![]).await;
    carol.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    carol.peer(BOB, bob_key, Some(net_addr(&bob)), false);
    let carol = carol.start(vec![]).await;
    for (node, peers) in [
        (&alice, [BOB, CAROL]),
        (&bob, [ALICE, CAROL]),
        (&carol, [ALICE, BOB]),
    ] {
        for peer in peers {
            wait_linked(node, peer, true).await;
        }
    }
    let nodes = [ALICE, BOB, CAROL];
    let mut clients = Vec::new();
    for node in [&alice, &bob, &carol] {
        clients.push(join(node).await.0);
    }
    for round in ["one", "two", "end"] {
        for speaker in 0..clients.len() {
            let text = format!("{round} from {}", nodes[speaker]);
            clients[speaker].send_text(&text).await;
            for (listener, client) in clients.iter_mut().enumerate() {
                let expected = if listener == speaker {
                    format!("[user1]: {text}")
                } else {
                    format!("[user1@{}]: {text}", nodes[speaker])
                };
                // A copy forwarded again would arrive before the next message on some link.
                assert_eq!(client.next_text().await, expected);
            }
        }
    }
}

#[tokio::test]
async fn a_peer_chat_that_sends_garbage_or_never_answers_harms_nobody() {
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    alice.peer(BOB, bob.key, None, false);
    let alice_key = alice.key;
    let alice = alice.start(vec![real_chat()]).await;
    bob.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    let _bob = bob.start(vec![rogue_chat()]).await;
    wait_linked(&alice, BOB, true).await;
    let (mut a, _) = join_to(&alice, ROGUE_CHAT).await;
    let (mut a2, _) = join_to(&alice, ROGUE_CHAT).await;
    assert_eq!(a.next_text().await, "* user2 joined; 2 people here");

    a.send_text("hi bob").await;
    for client in [&mut a, &mut a2] {
        assert_eq!(client.next_text().await, "[user1]: hi bob");
        // The garbage, the bad name and the oversized text were dropped; the chat lives on.
        assert_eq!(
            client.next_text().await,
            "[rogue@bob.os]: after the garbage"
        );
    }

    // A whisper bob never answers: the chat serves everyone meanwhile, and the sender is
    // told when the wait is over.
    a.send_text("/whisper someone@bob.os are you there?").await;
    a2.send_text("meanwhile").await;
    for client in [&mut a, &mut a2] {
        assert_eq!(client.next_text().await, "[user2]: meanwhile");
    }
    assert_eq!(
        a.next_text().await,
        "error: the whisper may not have been delivered: bob.os did not answer in time"
    );
}
