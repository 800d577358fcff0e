//! The chat under bursts: messages from many clients at once are stored in one transaction
//! and shown only after it commits. Every client sees one order with consecutive ids, the
//! same as the archive's; whatever was shown survives a crash of the process and a node
//! restart; a message SQLite refuses is shown to nobody and its sender is told.

use serde_json::Value;
use switchboard_tests::{procs, Frame, TestNode, WsClient};

const CHAT: &str = "chat:chat:sys";
const CLIENTS: usize = 8;
const EACH: usize = 20;

/// `n` clients in the chat `process`, each switched to JSON, with every join event read.
async fn members(node: &TestNode, process: &str, n: usize) -> Vec<WsClient> {
    let mut clients: Vec<WsClient> = Vec::new();
    for _ in 0..n {
        let (mut client, _) = node.register(process).await;
        client.next_text().await; // greeting
        client.send_text(r#"{"type":"who"}"#).await;
        assert_eq!(client.next_json().await["type"], "hello");
        assert_eq!(client.next_json().await["type"], "who");
        for earlier in &mut clients {
            let joined = earlier.next_json().await;
            assert_eq!(joined["type"], "join", "{joined}");
        }
        clients.push(client);
    }
    clients
}

fn say(text: &str) -> String {
    serde_json::json!({"type": "say", "text": text}).to_string()
}

/// `(id, from, text)` of a message event.
fn key(event: &Value) -> (u64, String, String) {
    assert_eq!(event["type"], "message", "{event}");
    stored(event)
}

/// `(id, from, text)` of a message in a history event.
fn stored(event: &Value) -> (u64, String, String) {
    (
        event["id"].as_u64().expect("id"),
        event["from"].as_str().expect("from").to_owned(),
        event["text"].as_str().expect("text").to_owned(),
    )
}

/// Every message in the archive, through a fresh client's `history{since:0}`.
async fn archived(node: &TestNode, process: &str) -> Vec<(u64, String, String)> {
    let (mut client, _) = node.register(process).await;
    let mut messages = Vec::new();
    client.send_text(r#"{"type":"history","since":0}"#).await;
    loop {
        // Until the JSON request is read, the chat speaks text: the greeting and the last
        // messages.
        let Ok(event) = serde_json::from_str::<Value>(&client.next_text().await) else {
            continue;
        };
        match event["type"].as_str() {
            Some("hello") => continue,
            Some("history") => {
                let page = event["messages"].as_array().expect("messages");
                messages.extend(page.iter().map(stored));
                // Pages are 500 long; a shorter one is the last.
                if page.len() < 500 {
                    return messages;
                }
            }
            _ => panic!("unexpected {event}"),
        }
    }
}

#[tokio::test]
async fn a_burst_from_many_clients_is_shown_to_all_in_one_order_with_consecutive_ids() {
    let node = TestNode::start(vec![]).await;
    let clients = members(&node, CHAT, CLIENTS).await;
    let mut tasks = Vec::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            // Everything is sent before anything is read: the chat gets a burst.
            for n in 0..EACH {
                client.send_text(&say(&format!("c{i} m{n}"))).await;
            }
            let mut seen = Vec::new();
            for _ in 0..CLIENTS * EACH {
                seen.push(key(&client.next_json().await));
            }
            seen
        }));
    }
    let mut views = Vec::new();
    for task in tasks {
        views.push(task.await.expect("client task"));
    }

    let first = &views[0];
    for view in &views[1..] {
        assert_eq!(
            view, first,
            "every member sees the same messages in one order"
        );
    }
    let ids: Vec<u64> = first.iter().map(|m| m.0).collect();
    let expected: Vec<u64> = (ids[0]..ids[0] + (CLIENTS * EACH) as u64).collect();
    assert_eq!(ids, expected, "ids are consecutive, in the order shown");
    for i in 0..CLIENTS {
        let own: Vec<&str> = first
            .iter()
            .filter(|m| m.2.starts_with(&format!("c{i} ")))
            .map(|m| m.2.as_str())
            .collect();
        let sent: Vec<String> = (0..EACH).map(|n| format!("c{i} m{n}")).collect();
        assert_eq!(own, sent, "each sender's messages keep their order");
    }
    assert_eq!(&archived(&node, CHAT).await, first, "stored as shown");
}

/// Reads a member's frames until its socket closes: the messages it was shown, and the
/// error code it was given before the close.
async fn shown_until_closed(mut client: WsClient) -> (Vec<(u64, String, String)>, String) {
    let mut shown = Vec::new();
    loop {
        match client.next().await {
            Frame::Text(text) => {
                let event: Value = serde_json::from_str(&text).expect("JSON");
                if let Some(code) = event["error"]["code"].as_str() {
                    return (shown, code.to_owned());
                }
                if event["type"] == "message" {
                    shown.push(key(&event));
                }
            }
            other => panic!("expected the error frame before the close, got {other:?}"),
        }
    }
}

/// Every message in `shown` is in `archive` with the same id, author and text.
fn all_archived(shown: &[(u64, String, String)], archive: &[(u64, String, String)]) {
    for message in shown {
        assert!(
            archive.contains(message),
            "{message:?} was shown but is not in the archive"
        );
    }
}

#[tokio::test]
async fn what_was_shown_before_a_crash_in_a_burst_is_in_the_history() {
    let node = TestNode::start(vec![procs::crashable_chat()]).await;
    let chat = "chat:test:sys";
    let mut clients = members(&node, chat, 5).await;
    let mut crasher = clients.pop().expect("a fifth client");
    let mut tasks = Vec::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for n in 0..EACH {
                client.send_text(&say(&format!("c{i} m{n}"))).await;
            }
            shown_until_closed(client).await
        }));
    }
    // The crash comes in the middle of the others' bursts.
    crasher.send_text(&say("before the crash")).await;
    crasher.send_text(procs::CHAT_CRASH_WORD).await;

    let mut shown: Vec<(u64, String, String)> = Vec::new();
    for task in tasks {
        let (seen, code) = task.await.expect("client task");
        assert_eq!(code, "process_restarted");
        shown.extend(seen);
    }
    let archive = archived(&node, chat).await;
    all_archived(&shown, &archive);
    let ids: Vec<u64> = archive.iter().map(|m| m.0).collect();
    let expected: Vec<u64> = (1..=archive.len() as u64).collect();
    assert_eq!(ids, expected, "no gaps in the archive");
}

#[tokio::test]
async fn what_was_shown_before_a_node_restart_in_a_burst_is_in_the_history() {
    let node = TestNode::start(vec![]).await;
    let clients = members(&node, CHAT, 4).await;
    let mut tasks = Vec::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for n in 0..EACH {
                client.send_text(&say(&format!("c{i} m{n}"))).await;
            }
            shown_until_closed(client).await
        }));
    }
    let node = node.restart(vec![]).await;
    let mut shown: Vec<(u64, String, String)> = Vec::new();
    for task in tasks {
        let (seen, code) = task.await.expect("client task");
        assert_eq!(code, "going_away");
        shown.extend(seen);
    }
    all_archived(&shown, &archived(&node, CHAT).await);
}

/// A second connection to the chat's own SQLite file, as an operator would open it.
fn open_archive(node: &TestNode) -> rusqlite::Connection {
    let id = CHAT.parse().expect("process id");
    let file = gateway::home::process_dir(node.home.path(), &id).join("chat.sqlite3");
    rusqlite::Connection::open(file).expect("open the chat's archive")
}

#[tokio::test]
async fn a_message_sqlite_refuses_is_shown_to_nobody_and_its_sender_is_told() {
    let node = TestNode::start(vec![]).await;
    let mut clients = members(&node, CHAT, 2).await;
    let mut bystander = clients.pop().expect("two");
    let mut sender = clients.pop().expect("two");

    // A real refusal by SQLite, from outside the chat: a trigger that aborts some inserts.
    let db = open_archive(&node);
    db.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.text LIKE 'doomed%'
         BEGIN SELECT RAISE(ABORT, 'refused'); END;",
    )
    .expect("create the trigger");

    // One burst: the refused message sits between two that are stored.
    for text in ["kept 1", "doomed", "kept 2"] {
        sender.send_text(&say(text)).await;
    }
    let first = key(&sender.next_json().await);
    let error = sender.next_json().await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["code"], "archive_failed");
    assert_eq!(
        error["message"],
        "the message could not be stored, so it was not sent; try again"
    );
    let second = key(&sender.next_json().await);
    assert_eq!((first.2.as_str(), second.2.as_str()), ("kept 1", "kept 2"));
    assert_eq!(second.0, first.0 + 1, "a refused message takes no id");
    assert_eq!(key(&bystander.next_json().await), first);
    assert_eq!(key(&bystander.next_json().await), second);

    // Now nothing can be stored: the sender is told each time, the others see nothing.
    db.execute_batch(
        "DROP TRIGGER refuse;
         CREATE TRIGGER refuse BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'full'); END;",
    )
    .expect("replace the trigger");
    sender.send_text(&say("lost?")).await;
    assert_eq!(sender.next_json().await["code"], "archive_failed");
    db.execute_batch("DROP TRIGGER refuse;")
        .expect("drop the trigger");
    bystander.send_text(&say("after")).await;
    let after = key(&bystander.next_json().await);
    assert_eq!((after.0, after.2.as_str()), (second.0 + 1, "after"));
    assert_eq!(key(&sender.next_json().await), after);

    let texts: Vec<String> = archived(&node, CHAT)
        .await
        .into_iter()
        .map(|m| m.2)
        .collect();
    assert_eq!(texts, ["kept 1", "kept 2", "after"]);
}
