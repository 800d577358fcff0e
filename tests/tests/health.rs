//! `/health` and `/ready` on the internal port: ready while accepting, 503 while the node
//! drains and while a peer it dials is not linked.

use std::time::Duration;

use gateway::config::PeerConfig;
use gateway::net::PublicKey;
use gateway::Config;
use serde_json::json;
use switchboard_tests::mesh::{wait_linked, Plan};
use switchboard_tests::ops::{self, free_port, get, get_until, scrape_until};
use switchboard_tests::{TestNode, WsClient, WAIT};

#[tokio::test]
async fn health_is_200_and_ready_turns_503_while_the_node_drains() {
    let (mut config, home) = TestNode::config();
    config.metrics_bind = Some(([127, 0, 0, 1], 0).into());
    // Long enough that the drain lasts until the client below answers the close.
    config.close_timeout = Duration::from_secs(30);
    let node = TestNode::start_with(config, home, vec![]).await;
    let metrics = node.node.metrics_addr().expect("the internal port is on");

    let health = get(metrics, "/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(health.json()["node"], "local.os");
    let ready = get(metrics, "/ready").await;
    assert_eq!(
        (ready.status, ready.json()),
        (200, json!({ "ready": true }))
    );
    let elsewhere = get(metrics, "/nothing-here").await;
    assert_eq!(elsewhere.status, 404);
    assert!(elsewhere.json()["error"]
        .as_str()
        .unwrap_or_default()
        .contains("/metrics"));

    // A client that does not read yet holds the drain open.
    let mut client = WsClient::connect(&node.url()).await;
    client.register(&node.token(), "echo:echo:sys").await;
    let TestNode { node, home } = node;
    // The drain a signal starts: `/ready` reads the drain's own flag.
    let stopping = tokio::spawn(node.drain());

    let draining = get_until(metrics, "/ready", "/ready turns 503", |r| r.status == 503).await;
    assert_eq!(
        draining.json(),
        json!({ "ready": false, "reasons": ["the node is draining"] })
    );
    assert_eq!(get(metrics, "/health").await.status, 200);
    assert!(!stopping.is_finished());

    // The client is told, answers the close, and the node finishes stopping.
    client.expect_refusal("going_away", 1001).await;
    assert!(matches!(
        client.next().await,
        switchboard_tests::Frame::Ended
    ));
    tokio::time::timeout(WAIT, stopping)
        .await
        .expect("the node stops once its last client has gone")
        .expect("drain");
    assert!(
        tokio::net::TcpStream::connect(metrics).await.is_err(),
        "the internal port stops with the node"
    );
    drop(home);
}

fn bob_config(home: &std::path::Path, addr: std::net::SocketAddr, alice: PublicKey) -> Config {
    let mut config = Config::new(home);
    config.bind = ([127, 0, 0, 1], 0).into();
    config.node = "bob.os".to_owned();
    config.net.bind = Some(addr);
    config.net.peers = vec![PeerConfig {
        name: "alice.os".to_owned(),
        address: None,
        public_key: alice,
        trust_pushes: false,
    }];
    config
}

#[tokio::test]
async fn ready_is_503_while_a_peer_the_node_dials_is_not_linked() {
    let bob_addr = free_port();
    let bob_plan = Plan::new("bob.os");
    let mut alice_plan = Plan::new("alice.os");
    alice_plan.peer("bob.os", bob_plan.key, Some(bob_addr), false);
    alice_plan.config.metrics_bind = Some(([127, 0, 0, 1], 0).into());
    alice_plan.config.net.redial_max = Duration::from_millis(200);
    let alice_key = alice_plan.key;
    let bob = bob_config(bob_plan.home.path(), bob_addr, alice_key);
    let alice = alice_plan.start(vec![]).await;
    let metrics = alice.node.metrics_addr().expect("the internal port is on");

    // Bob is not up: alice is alive but not ready.
    let ready = get(metrics, "/ready").await;
    assert_eq!(ready.status, 503);
    assert_eq!(
        ready.json(),
        json!({ "ready": false, "reasons": ["peer bob.os is not linked"] })
    );
    assert_eq!(get(metrics, "/health").await.status, 200);
    let down = ops::Scrape::take(metrics).await;
    assert_eq!(
        down.value("switchboard_peer_up", &[("peer", "bob.os")]),
        0.0
    );
    assert_eq!(down.value("switchboard_ready", &[]), 0.0);

    let bob = TestNode::start_with(bob, bob_plan.home, vec![]).await;
    wait_linked(&alice, "bob.os", true).await;
    let ready = get(metrics, "/ready").await;
    assert_eq!(
        (ready.status, ready.json()),
        (200, json!({ "ready": true }))
    );
    let up = scrape_until(metrics, "bytes both ways on the link", |s| {
        s.get("switchboard_peer_sent_bytes_total", &[("peer", "bob.os")]) > Some(0.0)
            && s.get(
                "switchboard_peer_received_bytes_total",
                &[("peer", "bob.os")],
            ) > Some(0.0)
    })
    .await;
    assert_eq!(up.value("switchboard_peer_up", &[("peer", "bob.os")]), 1.0);
    assert_eq!(
        up.value("switchboard_peer_reconnects_total", &[("peer", "bob.os")]),
        0.0
    );

    // Bob goes away and comes back: 503 meanwhile, then one reconnect.
    let TestNode { node, home } = bob;
    node.shutdown().await;
    wait_linked(&alice, "bob.os", false).await;
    assert_eq!(get(metrics, "/ready").await.status, 503);
    let bob =
        TestNode::start_with(bob_config(home.path(), bob_addr, alice_key), home, vec![]).await;
    wait_linked(&alice, "bob.os", true).await;
    assert_eq!(get(metrics, "/ready").await.status, 200);
    let again = ops::Scrape::take(metrics).await;
    assert_eq!(
        again.value("switchboard_peer_reconnects_total", &[("peer", "bob.os")]),
        1.0
    );
    drop(bob);
}
