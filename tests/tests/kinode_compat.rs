//! A process written as Kinode's docs write one runs unchanged: `kinode:test:sys` (the docs'
//! full WebSocket handler, see `tests/src/kinode.rs`) driven by real WebSocket clients, and
//! `our.js` as Kinode web apps load it.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard_tests::web::{self, RawRequest};
use switchboard_tests::{kinode, Frame, TestNode, WAIT};

async fn get(node: &TestNode, request: RawRequest) -> (u16, Option<String>, String) {
    let response = web::send(node.addr(), &request).await;
    let content_type = response.header("content-type").map(str::to_owned);
    (response.status, content_type, response.text())
}

async fn state(node: &TestNode) -> Value {
    let response = web::send(
        node.addr(),
        &RawRequest::new("GET", "/kinode:test:sys/state"),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

#[tokio::test]
async fn the_docs_handler_answers_text_and_binary_pushes_and_forgets_closed_channels() {
    let node = TestNode::start(vec![kinode::spec()]).await;
    let (mut alice, alice_id) = node.register(kinode::ID).await;
    let (mut bob, bob_id) = node.register(kinode::ID).await;

    // Text: `send_ws_push(our.node.clone(), …)`.
    alice.send_text("hello").await;
    assert_eq!(alice.next_text().await, "#1 hello");
    bob.send_text("hi").await;
    assert_eq!(bob.next_text().await, "#2 hi");

    // Binary: `send_ws_push` written out as the docs' `Request::new()…send()?`.
    alice.send_binary(&[1, 2, 3, 0xff]).await;
    assert_eq!(alice.next().await, Frame::Binary(vec![0xff, 3, 2, 1]));

    // Every way of naming the node reaches the channel.
    alice.send_text("every node form").await;
    for n in 1..=5 {
        assert_eq!(alice.next_text().await, format!("form {n}"));
    }

    // `Address::new` takes any node; a bad one is refused when the request is sent.
    alice.send_text("bad node").await;
    assert_eq!(
        alice.next_text().await,
        "message to Not.A_Node@http-server:distro:sys not delivered: BadNodeName \
         (a node name has only a-z, 0-9, `-` and `.`)"
    );

    // `HttpServerRequest::Http(IncomingHttpRequest { method, url, bound_path, .. })`.
    let seen = state(&node).await;
    assert_eq!(seen["method"], "GET");
    assert_eq!(seen["bound_path"], "/state");
    assert_eq!(
        seen["url"],
        format!("http://{}/kinode:test:sys/state", node.addr())
    );
    let mut both = vec![alice_id, bob_id];
    both.sort_unstable();
    assert_eq!(seen["channel_ids"], json!(both));
    assert_eq!(seen["archive"], json!(["hello", "hi"]));

    // `WebSocketClose(channel_id)` takes bob's channel out of the set; alice goes on.
    bob.ws.close(None).await.expect("close");
    let forgotten = tokio::time::timeout(WAIT, async {
        loop {
            let seen = state(&node).await;
            if seen["channel_ids"] == json!([alice_id]) {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the process hears of bob's close in time");
    assert_eq!(forgotten["archive"], json!(["hello", "hi"]));
    alice.send_text("still here").await;
    assert_eq!(alice.next_text().await, "#3 still here");
}

#[tokio::test]
async fn our_js_tells_a_web_app_its_node_and_process() {
    let node = TestNode::start(vec![kinode::spec()]).await;
    let named = "window.our = {}; window.our.node = 'local.os'; \
                 window.our.process = 'kinode:test:sys';";
    let js = Some("application/javascript".to_owned());

    // `<script src="our.js">` on a page under the process's path.
    let under = get(&node, RawRequest::new("GET", "/kinode:test:sys/our.js")).await;
    assert_eq!(under, (200, js.clone(), named.to_owned()));

    // `<script src="/our.js">` on that page: the page's address names the process.
    let page = format!("http://{}/kinode:test:sys/state", node.addr());
    let from_page = RawRequest::new("GET", "/our.js").header("referer", &page);
    assert_eq!(
        get(&node, from_page).await,
        (200, js.clone(), named.to_owned())
    );

    // Anywhere else, the node alone, as Kinode's home page serves it.
    let bare = get(&node, RawRequest::new("GET", "/our.js")).await;
    let node_only = "window.our = {}; window.our.node = 'local.os';".to_owned();
    assert_eq!(bare, (200, js, node_only));

    // A process that does not run here has no `our.js`.
    let (status, _, body) = get(&node, RawRequest::new("GET", "/nobody:test:sys/our.js")).await;
    assert_eq!(status, 404, "{body}");
}
