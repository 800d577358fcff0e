//! The per-address connection limits, with clients on two loopback addresses: the refusal's
//! error frame and close code, and that another address is not affected.

use std::net::IpAddr;

use switchboard_tests::ops::Scrape;
use switchboard_tests::{Frame, TestNode, WsClient};

const ONE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
const TWO: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

async fn registered_from(node: &TestNode, from: IpAddr) -> WsClient {
    let mut client = WsClient::connect_from(&node.url(), from).await;
    client.register(&node.token(), "echo:echo:sys").await;
    client
}

#[tokio::test]
async fn an_address_at_its_connection_cap_is_refused_and_another_is_not() {
    let (mut config, home) = TestNode::config();
    config.max_connections_per_address = 2;
    config.metrics_bind = Some(([127, 0, 0, 1], 0).into());
    let node = TestNode::start_with(config, home, vec![]).await;
    let mut first = registered_from(&node, ONE).await;
    let _second = registered_from(&node, ONE).await;

    let mut third = WsClient::connect_from(&node.url(), ONE).await;
    let message = third
        .expect_refusal("too_many_connections_from_address", 1013)
        .await;
    assert!(
        message.contains("your address holds 2 connections"),
        "{message}"
    );

    let mut other = registered_from(&node, TWO).await;
    other.send_text("from elsewhere").await;
    assert_eq!(other.next_text().await, "from elsewhere");
    first.send_text("still here").await;
    assert_eq!(first.next_text().await, "still here");
    let refused = node.node.limit_refusals();
    assert_eq!(refused.too_many_from_address, 1);
    assert_eq!(refused.rate_exceeded + refused.over_capacity, 0);
    assert_eq!(
        refusals_scraped(&node, "too_many_connections_from_address").await,
        1.0
    );
}

/// `switchboard_registers_total` for the refusal `outcome`, as the internal port serves it.
async fn refusals_scraped(node: &TestNode, outcome: &str) -> f64 {
    let metrics = node.node.metrics_addr().expect("the internal port is on");
    Scrape::take(metrics)
        .await
        .value("switchboard_registers_total", &[("outcome", outcome)])
}

#[tokio::test]
async fn an_address_opening_connections_too_fast_is_refused_and_another_is_not() {
    let (mut config, home) = TestNode::config();
    config.connections_per_second_per_address = 2;
    config.metrics_bind = Some(([127, 0, 0, 1], 0).into());
    let node = TestNode::start_with(config, home, vec![]).await;
    // The bucket holds two and regains two a second: connecting back to back empties it
    // long before it refills, however slow the machine (bounded, in case it never does).
    let mut held = Vec::new();
    let mut refused = None;
    for _ in 0..50 {
        let mut client = WsClient::connect_from(&node.url(), ONE).await;
        client
            .send_register(&node.token(), "echo:echo:sys", false)
            .await;
        match client.next().await {
            Frame::Text(text) if text.starts_with("{\"channel_id\":") => held.push(client),
            Frame::Text(text) => {
                refused = Some((client, text));
                break;
            }
            other => panic!("expected a reply, got {other:?}"),
        }
    }
    let (mut client, text) = refused.expect("a client past the rate is refused");
    let frame: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        frame["error"]["code"], "connection_rate_exceeded",
        "{frame}"
    );
    assert!(
        frame["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("faster than this node allows")),
        "{frame}"
    );
    match client.next().await {
        Frame::Close(code, reason) => {
            assert_eq!(code, 1008);
            assert_eq!(reason, "connection_rate_exceeded");
        }
        other => panic!("expected close 1008, got {other:?}"),
    }
    assert!(held.len() >= 2, "the first two fit the bucket");

    let mut other = registered_from(&node, TWO).await;
    other.send_text("own bucket").await;
    assert_eq!(other.next_text().await, "own bucket");
    assert_eq!(node.node.limit_refusals().rate_exceeded, 1);
    assert_eq!(
        refusals_scraped(&node, "connection_rate_exceeded").await,
        1.0
    );
}
