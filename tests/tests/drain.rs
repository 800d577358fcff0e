//! The staggered drain with two thousand registered clients: every one is told `going_away`
//! and closed with 1001, in batches spread as configured, and the process hears the close of
//! every channel.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use process_lib::HttpServerRequest;
use switchboard_tests::{procs, TestNode, WsClient, WAIT};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 2_000;
const BATCH: usize = 250;
const INTERVAL: Duration = Duration::from_millis(400);

/// What one client saw at the end: when the error frame came, and what it said.
#[derive(Debug)]
struct Ending {
    told_at: Instant,
    error_code: String,
    close_code: u16,
    close_reason: String,
}

/// Reads until the node's error frame and its close; anything else is a failure.
async fn await_ending(mut client: WsClient) -> Result<Ending, String> {
    let error = loop {
        match client.ws.next().await {
            Some(Ok(Message::Text(text))) => break text.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => return Err(format!("cut without the error frame: {other:?}")),
        }
    };
    let told_at = Instant::now();
    let error: serde_json::Value = serde_json::from_str(&error).map_err(|e| e.to_string())?;
    let close = match client.ws.next().await {
        Some(Ok(Message::Close(Some(frame)))) => frame,
        other => return Err(format!("no close frame after the error: {other:?}")),
    };
    // The close handshake's answer goes out on its own; wait for the end of the stream.
    while let Some(Ok(_)) = client.ws.next().await {}
    Ok(Ending {
        told_at,
        error_code: error["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        close_code: close.code.into(),
        close_reason: close.reason.to_string(),
    })
}

/// How many bursts `times` fall into, a burst ending where two times are further apart
/// than `gap`.
fn bursts(mut times: Vec<Instant>, gap: Duration) -> usize {
    times.sort();
    1 + times.windows(2).filter(|w| w[1] - w[0] > gap).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_clients_are_told_going_away_in_batches_and_their_process_hears_every_close() {
    // Each client is two descriptors in this process (its socket and the node's).
    rlimit::increase_nofile_limit(u64::MAX).expect("raise the open-file limit");
    let (mut config, home) = TestNode::config();
    config.drain.batch_size = BATCH;
    config.drain.batch_interval = INTERVAL;
    config.drain.timeout = Duration::from_secs(120);
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let node = TestNode::start_with(config, home, vec![procs::recorder(events_tx)]).await;
    let token = node.token();
    let url = node.url();

    let clients: Vec<(WsClient, u32)> = futures_util::stream::iter(0..CLIENTS)
        .map(|_| {
            let (url, token) = (url.clone(), token.clone());
            async move {
                let mut client = WsClient::connect(&url).await;
                let id = client.register(&token, "recorder:test:sys").await;
                (client, id)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let ids: HashSet<u32> = clients.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids.len(), CLIENTS);
    assert_eq!(node.node.channel_count(), CLIENTS);

    let endings: Vec<_> = clients
        .into_iter()
        .map(|(client, _)| tokio::spawn(await_ending(client)))
        .collect();
    let TestNode { node, home: _home } = node;
    let report = tokio::time::timeout(Duration::from_secs(120), node.drain())
        .await
        .expect("the drain ends");
    assert_eq!(report.channels, CLIENTS);
    assert_eq!(report.batches, CLIENTS / BATCH);
    assert!(report.completed, "{report:?}");

    let mut told = Vec::new();
    for ending in endings {
        let ending = tokio::time::timeout(WAIT, ending)
            .await
            .expect("each client's end in time")
            .expect("join")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ending.error_code, "going_away", "{ending:?}");
        assert_eq!(
            (ending.close_code, ending.close_reason.as_str()),
            (1001, "going_away")
        );
        told.push(ending.told_at);
    }
    // Eight batches 400 ms apart: the clients were told in several bursts, not in one. A
    // busy machine may blur two batches together, so half of them is the bar.
    let seen = bursts(told, INTERVAL / 2);
    assert!(seen >= CLIENTS / BATCH / 2, "{seen} bursts");

    // The drain waited for the process to take every close from its mailbox.
    let mut closed = HashSet::new();
    while let Ok((event, _)) = events.try_recv() {
        if let HttpServerRequest::WebSocketClose(id) = event {
            closed.insert(id);
        }
    }
    assert_eq!(closed, ids, "a WebSocketClose for every channel");
}

#[tokio::test]
async fn a_client_registering_while_the_node_drains_is_told_going_away() {
    let (mut config, home) = TestNode::config();
    config.drain.batch_size = 1;
    config.drain.batch_interval = Duration::from_secs(3600);
    let node = TestNode::start_with(config, home, vec![]).await;
    let (mut held, _) = node.register("echo:echo:sys").await;
    let (mut later, _) = node.register("echo:echo:sys").await;
    // Upgraded but not registered: the drain tells it too, without waiting for a frame.
    let mut pending = WsClient::connect(&node.url()).await;
    // One channel a batch, an hour apart: `held` is told now, `later` only at shutdown.
    let TestNode { node, home: _home } = node;
    let draining = tokio::spawn(node.drain());
    held.expect_refusal("going_away", 1001).await;
    pending.expect_refusal("going_away", 1001).await;
    later
        .ws
        .send(Message::text("still served"))
        .await
        .expect("send");
    assert_eq!(later.next_text().await, "still served");
    draining.abort();
}
