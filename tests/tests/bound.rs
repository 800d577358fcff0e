//! Bound paths as a client meets them: a process binds with process-lib, clients connect to
//! `ws://host/<process_id><path>` with no register frame, and HTTP requests on bound paths are
//! answered by the process.

use std::time::Duration;

use serde_json::json;
use switchboard_tests::web::{self, connect_with, RawRequest};
use switchboard_tests::{web_procs, Frame, TestNode, WsClient, WAIT};
use tokio::sync::mpsc;

/// A node running `binder:test:sys`, once its binds are answered; with what the bad bind got.
async fn node_with_binder(config: Option<gateway::Config>) -> (TestNode, String) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let node = match config {
        Some(config) => {
            let home = tempfile::tempdir().expect("home");
            let mut config = config;
            config.home = home.path().to_owned();
            TestNode::start_with(config, home, vec![web_procs::binder(tx)]).await
        }
        None => TestNode::start(vec![web_procs::binder(tx)]).await,
    };
    let ready = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("binds answered in time")
        .expect("binder reports")
        .expect("every bind is accepted");
    (node, ready)
}

fn bound_url(node: &TestNode, path: &str) -> String {
    format!("ws://{}/binder:test:sys{path}", node.addr())
}

#[tokio::test]
async fn a_bound_path_opens_without_a_register_frame_pushes_and_closes() {
    let (node, _) = node_with_binder(None).await;
    let url = format!("{}?token={}", bound_url(&node, "/ws"), node.token());
    let mut client = WsClient::connect(&url).await;
    // The first frame is already the process's push, and it names the bound path.
    let hello = client.next_json().await;
    assert_eq!(hello["opened"], "/ws", "{hello}");
    assert!(hello["channel_id"].as_u64().is_some_and(|id| id > 0));
    client.send_text("hi").await;
    assert_eq!(client.next_text().await, "echo:hi");
    client.send_binary(b"bytes too").await;
    assert_eq!(client.next_text().await, "echo:bytes too");
    client.send_text("close").await;
    assert_eq!(client.next().await, Frame::Close(1000, String::new()));
}

#[tokio::test]
async fn the_login_cookie_from_the_nodes_own_page_opens_a_bound_path() {
    let (node, _) = node_with_binder(None).await;
    let cookie = format!("kinode-auth_local.os={}", node.token());
    let origin = format!("http://{}", node.addr());
    let mut client = connect_with(
        &bound_url(&node, "/ws/"),
        &[("cookie", &cookie), ("origin", &origin)],
    )
    .await
    .expect("upgrade accepted");
    assert_eq!(client.next_json().await["opened"], "/ws");
    client.send_text("by cookie").await;
    assert_eq!(client.next_text().await, "echo:by cookie");
}

#[tokio::test]
async fn an_unauthenticated_bind_needs_no_token_and_an_authenticated_one_does() {
    let (node, _) = node_with_binder(None).await;
    let mut open = WsClient::connect(&bound_url(&node, "/open")).await;
    assert_eq!(open.next_json().await["opened"], "/open");

    let mut closed = WsClient::connect(&bound_url(&node, "/ws")).await;
    let message = closed.expect_refusal("unauthorized", 4401).await;
    assert!(message.contains("no auth token was given"), "{message}");
}

#[tokio::test]
async fn unbinding_refuses_new_clients_and_keeps_open_channels() {
    let (node, _) = node_with_binder(None).await;
    let url = format!("{}?token={}", bound_url(&node, "/ws"), node.token());
    let mut first = WsClient::connect(&url).await;
    first.next_json().await;
    first.send_text("unbind").await;
    assert_eq!(first.next_text().await, "unbound true");

    let mut late = WsClient::connect(&url).await;
    let message = late.expect_refusal("no_such_process", 4404).await;
    assert!(message.contains("/binder:test:sys/ws"), "{message}");

    first.send_text("still here").await;
    assert_eq!(first.next_text().await, "echo:still here");
}

#[tokio::test]
async fn a_bad_bind_is_answered_with_an_error() {
    let (_node, bad_bind) = node_with_binder(None).await;
    assert_eq!(bad_bind, "Err(Refused(MalformedRequest))");
}

#[tokio::test]
async fn http_on_a_bound_path_reaches_the_process_and_its_answer_comes_back() {
    let (node, _) = node_with_binder(None).await;
    let response = web::send(
        node.addr(),
        &RawRequest::new("POST", "/binder:test:sys/public?x=1").body("the payload"),
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    let seen = response.json();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["bound_path"], "/public");
    assert_eq!(seen["query"], json!({ "x": "1" }));
    assert_eq!(seen["body"], "the payload");
    assert_eq!(
        seen["url"],
        format!("http://{}/binder:test:sys/public?x=1", node.addr())
    );

    let response = web::send(
        node.addr(),
        &RawRequest::new("GET", "/binder:test:sys/nothing"),
    )
    .await;
    assert_eq!(response.status, 404);
    assert_eq!(
        response.json()["error"],
        "nothing is served at /binder:test:sys/nothing"
    );
}

#[tokio::test]
async fn an_authenticated_http_bind_wants_the_cookie_or_a_token() {
    let (node, _) = node_with_binder(None).await;
    let api = "/binder:test:sys/api";
    let response = web::send(node.addr(), &RawRequest::new("GET", api)).await;
    assert_eq!(response.status, 401);
    let message = response.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("log in at /login"), "{message}");

    // A browser loading the page is sent to the login page, which comes back here after.
    let response = web::send(
        node.addr(),
        &RawRequest::new("GET", &format!("{api}?a=b")).header("accept", "text/html,*/*"),
    )
    .await;
    assert_eq!(response.status, 302);
    assert_eq!(
        response.header("location"),
        Some("/login?next=%2Fbinder%3Atest%3Asys%2Fapi%3Fa%3Db")
    );

    let cookie = format!("kinode-auth_local.os={}", node.token());
    let response = web::send(
        node.addr(),
        &RawRequest::new("GET", api).header("cookie", &cookie),
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let response = web::send(
        node.addr(),
        &RawRequest::new("GET", &format!("{api}?token={}", node.token())),
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.text());

    // Another site's page may not use the cookie; a public bind takes any origin.
    let response = web::send(
        node.addr(),
        &RawRequest::new("POST", api)
            .header("cookie", &cookie)
            .header("origin", "http://evil.test"),
    )
    .await;
    assert_eq!(response.status, 403);
    let response = web::send(
        node.addr(),
        &RawRequest::new("POST", "/binder:test:sys/public").header("origin", "http://evil.test"),
    )
    .await;
    assert_eq!(response.status, 201);
}

#[tokio::test]
async fn a_process_that_does_not_answer_is_a_504() {
    let mut config = TestNode::config().0;
    config.http_response_timeout = Duration::from_millis(300);
    let (node, _) = node_with_binder(Some(config)).await;
    let response = web::send(
        node.addr(),
        &RawRequest::new("GET", "/binder:test:sys/slow"),
    )
    .await;
    assert_eq!(response.status, 504);
    assert_eq!(
        response.json()["error"],
        "process binder:test:sys did not answer within 0.3 s"
    );
}
