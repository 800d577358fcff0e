//! `/metrics` on the internal port, read by Debian's `promtool` and by a real Prometheus
//! server: the counts match what the clients did.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::SinkExt;
use process_lib::HttpServerError;
use serde_json::json;
use switchboard_tests::ops::{self, promtool_check, scrape_until, Prometheus, Scrape};
use switchboard_tests::web::{send, RawRequest};
use switchboard_tests::{procs, Frame, TestNode, WsClient, WAIT};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

const ECHO: &str = "echo:echo:sys";

/// Closes `client` with 1000 and waits for the node's answering close.
async fn close_normally(mut client: WsClient) {
    client
        .ws
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "done".into(),
        })))
        .await
        .expect("send close");
    match client.next().await {
        Frame::Close(code, _) => assert_eq!(code, 1000),
        other => panic!("expected the close answered, got {other:?}"),
    }
}

/// Sends numbered frames on `client` and reads each echo until `stop`; counts round trips.
async fn echo_until(
    mut client: WsClient,
    stop: Arc<AtomicBool>,
    trips: Arc<AtomicU64>,
) -> WsClient {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let text = format!("frame {n}");
        client.send_text(&text).await;
        assert_eq!(client.next_text().await, text);
        trips.fetch_add(1, Ordering::Relaxed);
        n += 1;
    }
    client
}

async fn login(node: &TestNode, password: &str) -> u16 {
    let request = RawRequest::post_json("/login", &json!({ "password": password }));
    send(node.addr(), &request).await.status
}

#[tokio::test]
async fn a_scrape_under_load_passes_promtool_and_counts_what_happened() {
    let (flood_tx, mut flood_rx) = tokio::sync::mpsc::unbounded_channel();
    let (node, metrics) = ops::start(vec![procs::crasher(), procs::flooder(flood_tx)]).await;
    let token = node.token();

    // 20 echo clients; 3 refused for a forged token.
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(node.register(ECHO).await.0);
    }
    for _ in 0..3 {
        let mut client = WsClient::connect(&node.url()).await;
        client.send_register("forged.token.here", ECHO, false).await;
        client.expect_refusal("unauthorized", 4401).await;
    }
    // Logins: one wrong password, one right.
    node.set_password("the right horse battery");
    assert_eq!(login(&node, "a wrong one").await, 401);
    assert_eq!(login(&node, "the right horse battery").await, 200);
    // A process that crashes closes its channel with 1011 and restarts.
    let (mut crashing, _) = node.register("crash:test:sys").await;
    crashing.send_text("panic").await;
    crashing.expect_refusal("process_restarted", 1011).await;
    // A client that never reads while a process floods it is a slow consumer.
    let mut flooded = WsClient::connect(&node.url()).await;
    flooded.register(&token, "flood:test:sys").await;
    flooded.send_text("flood").await;
    let refused = tokio::time::timeout(WAIT, flood_rx.recv())
        .await
        .expect("the flood ends");
    assert_eq!(refused, Some(HttpServerError::SlowConsumer));
    drop(flooded);
    // 5 clients leave with a normal close.
    for client in clients.drain(..5) {
        close_normally(client).await;
    }

    // Load: 5 of the remaining 15 echo while the scrape is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let trips = Arc::new(AtomicU64::new(0));
    let echoing: Vec<_> = clients
        .drain(..5)
        .map(|client| tokio::spawn(echo_until(client, stop.clone(), trips.clone())))
        .collect();
    scrape_until(metrics, "echo traffic under way", |s| {
        s.value("switchboard_frames_received_total", &[]) >= 200.0
    })
    .await;
    let under_load = Scrape::take(metrics).await;
    let (code, said) = promtool_check(&under_load.text).await;
    assert_eq!(
        code,
        Some(0),
        "promtool check metrics said:\n{said}\n{}",
        under_load.text
    );
    stop.store(true, Ordering::Relaxed);
    for task in echoing {
        clients.push(task.await.expect("an echoing client"));
    }

    let trips = trips.load(Ordering::Relaxed) as f64;
    let settled = scrape_until(metrics, "every close counted", |s| {
        s.get("switchboard_closes_total", &[("code", "1000")]) == Some(5.0)
            && s.get("switchboard_slow_consumer_closes_total", &[]) == Some(1.0)
            && s.get("switchboard_connections_open", &[]) == Some(15.0)
    })
    .await;
    let value = |name: &str, labels: &[(&str, &str)]| settled.value(name, labels);
    assert_eq!(
        value("switchboard_registers_total", &[("outcome", "ok")]),
        22.0
    );
    assert_eq!(
        value(
            "switchboard_registers_total",
            &[("outcome", "unauthorized")]
        ),
        3.0
    );
    assert_eq!(value("switchboard_closes_total", &[("code", "4401")]), 3.0);
    assert_eq!(value("switchboard_closes_total", &[("code", "1011")]), 1.0);
    assert_eq!(
        value("switchboard_channels_open", &[("process", ECHO)]),
        15.0
    );
    // Every echo frame, plus "panic" and "flood"; registers frames are not channel frames.
    assert_eq!(value("switchboard_frames_received_total", &[]), trips + 2.0);
    // Every echo, plus the 22 `{"channel_id":N}` replies, plus the flood's frames.
    assert!(value("switchboard_frames_sent_total", &[]) > trips + 22.0);
    assert!(value("switchboard_sent_bytes_total", &[]) > 64.0 * 1024.0);
    assert!(value("switchboard_received_bytes_total", &[]) >= trips * "frame 0".len() as f64);
    assert_eq!(
        value(
            "switchboard_push_refusals_total",
            &[("kind", "slow_consumer")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "switchboard_process_restarts_total",
            &[("process", "crash:test:sys")]
        ),
        1.0
    );
    assert_eq!(
        value("switchboard_process_restarts_total", &[("process", ECHO)]),
        0.0
    );
    assert_eq!(
        value("switchboard_mailbox_depth", &[("process", ECHO)]),
        0.0
    );
    assert_eq!(
        value("switchboard_login_attempts_total", &[("outcome", "ok")]),
        1.0
    );
    assert_eq!(
        value(
            "switchboard_login_attempts_total",
            &[("outcome", "wrong_password")]
        ),
        1.0
    );
    assert_eq!(value("switchboard_ready", &[]), 1.0);
    // One push in 64 is timed, and a few hundred echoes went out.
    let timed = value("switchboard_push_to_socket_seconds_count", &[]);
    assert!(timed >= 1.0, "no push was timed");
    assert_eq!(
        value(
            "switchboard_push_to_socket_seconds_bucket",
            &[("le", "+Inf")]
        ),
        timed
    );
    drop(clients);
}

#[tokio::test]
async fn a_prometheus_server_scrapes_the_node_and_answers_a_query() {
    let (node, metrics) = ops::start(vec![]).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(node.register(ECHO).await.0);
    }
    let mut prometheus = Prometheus::start(metrics).await;
    let result = prometheus
        .query_until(r#"switchboard_registers_total{outcome="ok"}"#)
        .await;
    assert_eq!(result.len(), 1, "{result:?}");
    assert_eq!(result[0]["metric"]["job"], "switchboard");
    assert_eq!(result[0]["value"][1], "3", "{result:?}");
    let up = prometheus.query(r#"up{job="switchboard"}"#).await;
    assert_eq!(up[0]["value"][1], "1", "{up:?}");
    drop(clients);
    drop(node);
}
