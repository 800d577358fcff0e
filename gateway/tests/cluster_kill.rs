//! A clustered chat outlives one of its instances killed with `kill -9`: three real
//! `switchboard run` processes of one node on a real NATS server, a chat member on each. The
//! killed instance's member reconnects to another instance and, resuming with `history since`
//! the last id it saw, misses no message; `/who` drops the killed instance's member within
//! seconds (its name's claim is no longer renewed).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{run_node, Running, BIN};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// How long any one wait may take.
const WAIT: Duration = Duration::from_secs(20);
const CHAT: &str = "chat:chat:sys";

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A chat member in JSON mode.
struct Member {
    ws: Socket,
    name: String,
}

impl Member {
    /// Joins the chat on `url` with `token`, switched to JSON.
    async fn join(url: &str, token: &str) -> Self {
        let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        let register = json!({"auth_token": token, "target_process": CHAT, "encrypted": false});
        ws.send(Message::text(register.to_string()))
            .await
            .expect("send");
        let mut member = Self {
            ws,
            name: String::new(),
        };
        let registered = member.next().await.expect("the register answer");
        assert!(registered.contains("channel_id"), "{registered}");
        member.send(json!({"type": "help"})).await;
        let hello = member.next_of("hello").await;
        member.name = hello["name"].as_str().expect("a name").to_owned();
        member
    }

    async fn send(&mut self, command: Value) {
        self.ws
            .send(Message::text(command.to_string()))
            .await
            .expect("send");
    }

    /// The next text frame; `None` when the socket ended.
    async fn next(&mut self) -> Option<String> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time");
            match frame {
                Some(Ok(Message::Text(text))) => return Some(text.to_string()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let text = self.next().await.expect("the socket is open");
            if let Ok(event) = serde_json::from_str::<Value>(&text) {
                if event["type"] == kind {
                    return event;
                }
            }
        }
    }

    async fn say(&mut self, text: &str) {
        self.send(json!({"type": "say", "text": text})).await;
    }

    /// The next message shown, as `(id, text)`.
    async fn message(&mut self) -> (u64, String) {
        let event = self.next_of("message").await;
        line(&event)
    }

    async fn who(&mut self) -> Vec<String> {
        self.send(json!({"type": "who"})).await;
        serde_json::from_value(self.next_of("who").await["names"].clone()).expect("names")
    }
}

fn line(event: &Value) -> (u64, String) {
    (
        event["id"].as_u64().expect("an id"),
        event["text"].as_str().expect("a text").to_owned(),
    )
}

#[tokio::test]
async fn a_member_of_a_killed_instance_moves_to_another_and_misses_nothing() {
    let store = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let nats = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server is installed (scripts/setup)");
    let _nats = Killed(nats);
    let homes = tempfile::tempdir().unwrap();
    let secret = homes.path().join("token-secret");
    std::fs::write(&secret, "cd".repeat(32)).unwrap();
    let secret_arg = secret.to_str().expect("a UTF-8 path");
    let mut instances: Vec<Running> = (1..=3)
        .map(|i| {
            let home = homes.path().join(format!("home-{i}"));
            // An instance prints its address once it has joined (waiting for NATS if need
            // be), so they take the numbers 1, 2, 3 in this order.
            run_node(
                &home,
                &[
                    "--node",
                    "cluster.os",
                    "--cluster",
                    &url,
                    "--token-secret-file",
                    secret_arg,
                ],
                Stdio::null(),
            )
        })
        .collect();
    let minted = Command::new(BIN)
        .args(["token", "--home"])
        .arg(homes.path().join("home-1"))
        .env("SWITCHBOARD_TOKEN_SECRET_FILE", &secret)
        .output()
        .expect("switchboard token");
    assert!(minted.status.success());
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();

    let mut a = Member::join(&instances[0].url, &token).await;
    let mut b = Member::join(&instances[1].url, &token).await;
    let mut c = Member::join(&instances[2].url, &token).await;
    let b_name = b.name.clone();
    assert!(a.who().await.contains(&b_name));

    a.say("before").await;
    let before = a.message().await;
    assert_eq!(c.message().await, before);
    let last_seen_by_b = b.message().await;
    assert_eq!(last_seen_by_b, before);

    // kill -9 of instance 2.
    let killed = &mut instances[1].child;
    killed.kill().expect("kill -9");
    killed.wait().expect("reaped");
    assert_eq!(
        b.next().await,
        None,
        "b's connection ends with its instance"
    );

    // The room goes on while b is away.
    a.say("while b moves").await;
    c.say("and again").await;
    let mut said = vec![a.message().await, a.message().await];
    assert_eq!(vec![c.message().await, c.message().await], said);

    // b reconnects to instance 3 and resumes from the last id it saw.
    let mut b = Member::join(&instances[2].url, &token).await;
    b.send(json!({"type": "history", "since": last_seen_by_b.0}))
        .await;
    let history = b.next_of("history").await;
    let resumed: Vec<(u64, String)> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(line)
        .collect();
    assert_eq!(resumed, said, "b misses no message said while it moved");

    a.say("after").await;
    said.push(a.message().await);
    assert_eq!(b.message().await, said[2]);

    // The killed instance's member is gone from /who once its claim lapses.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let names = a.who().await;
        if !names.contains(&b_name) {
            assert!(
                names.contains(&b.name) && names.contains(&c.name),
                "{names:?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{b_name} still listed: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
