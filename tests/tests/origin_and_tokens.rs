//! Who gets in: the `Origin` check on every upgrade, and every bad token — forged, `alg:
//! none`, expired, another node's, or given in a place the node does not read it from.

use gateway::auth::{Auth, Claims};
use switchboard_tests::web::{self, connect_with, RawRequest, Refused};
use switchboard_tests::{web_procs, TestNode, WsClient, WAIT};
use tokio::sync::mpsc;

async fn node_with_binder(allowed: &[&str]) -> TestNode {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (mut config, home) = TestNode::config();
    config.allowed_origins = allowed.iter().map(|s| s.to_string()).collect();
    let node = TestNode::start_with(config, home, vec![web_procs::binder(tx)]).await;
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("binds answered in time")
        .expect("binder reports")
        .expect("binds accepted");
    node
}

fn ws_path(node: &TestNode) -> String {
    format!("ws://{}/binder:test:sys/ws", node.addr())
}

fn upgrade_request(path: &str, headers: &[(&str, &str)]) -> RawRequest {
    let mut request = RawRequest::new("GET", path)
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    // `connection: close` is sent by the raw client; an upgrade needs `upgrade` in it.
    request
        .headers
        .push(("connection".into(), "upgrade".into()));
    for (k, v) in headers {
        request = request.header(k, v);
    }
    request
}

#[tokio::test]
async fn a_cross_origin_upgrade_with_a_valid_cookie_is_refused_403() {
    let node = node_with_binder(&[]).await;
    let cookie = format!("kinode-auth_local.os={}", node.token());
    let evil = "http://evil.test:8080";
    for path in ["/binder:test:sys/ws", "/"] {
        // As a WebSocket client sees it: no upgrade, status 403.
        let url = format!("ws://{}{path}", node.addr());
        match connect_with(&url, &[("cookie", &cookie), ("origin", evil)]).await {
            Err(Refused::Http(status, _)) => assert_eq!(status, 403, "{path}"),
            other => panic!("{path}: expected 403, got {other:?}"),
        }
        // And the sentence in the body.
        let response = web::send(
            node.addr(),
            &upgrade_request(path, &[("cookie", &cookie), ("origin", evil)]),
        )
        .await;
        assert_eq!(response.status, 403);
        let message = response.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            message.contains("requests from origin http://evil.test:8080 are not allowed"),
            "{message}"
        );
    }
    // A login form posted from another site is refused the same way.
    let response = web::send(
        node.addr(),
        &RawRequest::post_json("/login", &serde_json::json!({"password": "x"}))
            .header("origin", evil),
    )
    .await;
    assert_eq!(response.status, 403);
}

#[tokio::test]
async fn an_allowed_origin_may_use_the_cookie() {
    let node = node_with_binder(&["http://app.test:3000"]).await;
    let cookie = format!("kinode-auth_local.os={}", node.token());
    let mut client = connect_with(
        &ws_path(&node),
        &[("cookie", &cookie), ("origin", "http://app.test:3000")],
    )
    .await
    .expect("allowed origin upgrades");
    assert_eq!(client.next_json().await["opened"], "/ws");
    // The node's own origin stays allowed beside the list.
    let own = format!("http://{}", node.addr());
    let mut client = connect_with(&ws_path(&node), &[("cookie", &cookie), ("origin", &own)])
        .await
        .expect("own origin upgrades");
    assert_eq!(client.next_json().await["opened"], "/ws");
}

#[tokio::test]
async fn without_an_origin_only_a_token_opens() {
    let node = node_with_binder(&[]).await;
    let cookie = format!("kinode-auth_local.os={}", node.token());
    // Bound path: a cookie alone, from a client that is not a browser page, is not enough.
    let mut client = connect_with(&ws_path(&node), &[("cookie", &cookie)])
        .await
        .expect("upgrade");
    let message = client.expect_refusal("unauthorized", 4401).await;
    assert!(
        message.contains("must give a token (?token=…)"),
        "{message}"
    );
    // Register flow: an empty frame token does not fall back to the cookie either.
    let mut client = connect_with(&node.url(), &[("cookie", &cookie)])
        .await
        .expect("upgrade");
    client.send_register("", "echo:echo:sys", false).await;
    let message = client.expect_refusal("unauthorized", 4401).await;
    assert!(message.contains("no auth token"), "{message}");
    // With the token, both open.
    let url = format!("{}?token={}", ws_path(&node), node.token());
    let mut client = WsClient::connect(&url).await;
    assert_eq!(client.next_json().await["opened"], "/ws");
    let (_client, id) = node.register("echo:echo:sys").await;
    assert!(id > 0);
}

fn alg_none_token() -> String {
    // {"alg":"none","typ":"JWT"} . {"username":"local.os","exp":9999999999} . (no signature)
    "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJ1c2VybmFtZSI6ImxvY2FsLm9zIiwiZXhwIjo5OTk5OTk5OTk5fQ."
        .to_owned()
}

#[tokio::test]
async fn bad_tokens_on_a_bound_path_are_refused_with_the_reason() {
    let node = node_with_binder(&[]).await;
    let forged = Auth::new("local.os", &[3; 32]).mint(std::time::Duration::from_secs(60));
    let expired = node.node.auth().mint_claims(&Claims {
        username: "local.os".into(),
        exp: 1_000_000,
        process: None,
    });
    let other_node = node.node.auth().mint_claims(&Claims {
        username: "bob.os".into(),
        exp: u64::MAX / 2,
        process: None,
    });
    let cases = [
        (forged, "not valid for this node"),
        (alg_none_token(), "not valid for this node"),
        (expired, "has expired"),
        (other_node, "is for node \"bob.os\""),
    ];
    let own = format!("http://{}", node.addr());
    for (token, says) in cases {
        // In the query string.
        let mut client = WsClient::connect(&format!("{}?token={token}", ws_path(&node))).await;
        let message = client.expect_refusal("unauthorized", 4401).await;
        assert!(message.contains(says), "query {token}: {message}");
        // In the login cookie, from the node's own page.
        let cookie = format!("kinode-auth_local.os={token}");
        let mut client = connect_with(&ws_path(&node), &[("cookie", &cookie), ("origin", &own)])
            .await
            .expect("upgrade");
        let message = client.expect_refusal("unauthorized", 4401).await;
        assert!(message.contains(says), "cookie {token}: {message}");
        // In the register frame.
        let mut client = WsClient::connect(&node.url()).await;
        client.send_register(&token, "echo:echo:sys", false).await;
        let message = client.expect_refusal("unauthorized", 4401).await;
        assert!(message.contains(says), "frame {token}: {message}");
    }
}

#[tokio::test]
async fn a_good_token_in_the_wrong_place_does_not_count() {
    let node = node_with_binder(&[]).await;
    let token = node.token();
    let own = format!("http://{}", node.addr());
    let bearer = format!("Bearer {token}");
    let wrong_places: [(&str, String); 4] = [
        ("authorization", bearer),
        ("cookie", format!("kinode-auth={token}")),
        ("cookie", format!("kinode-auth_bob.os={token}")),
        ("cookie", format!("kinode-ws-auth_local.os={token}")),
    ];
    for (name, value) in &wrong_places {
        let mut client = connect_with(&ws_path(&node), &[(name, value), ("origin", &own)])
            .await
            .expect("upgrade");
        let message = client.expect_refusal("unauthorized", 4401).await;
        assert!(
            message.contains("no auth token"),
            "{name}: {value}: {message}"
        );
    }
    // `?token=` belongs to bound paths: the register flow reads the frame, not the query.
    let mut client = WsClient::connect(&format!("{}?token={token}", node.url())).await;
    client.send_register("", "echo:echo:sys", false).await;
    let message = client.expect_refusal("unauthorized", 4401).await;
    assert!(message.contains("no auth token"), "{message}");
}
