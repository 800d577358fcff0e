//! The public `@kinode/client-api` (0.1.0) in headless Chromium: the browser is sent to the
//! login page, logs in with the password, comes back to a process's page, and the page's
//! client-api opens the process's bound WebSocket by cookie and exchanges messages with it,
//! its node and process read from the node's `our.js`.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard_tests::browser::{browser_dir, run_driver};
use switchboard_tests::{web_procs, TestNode, WAIT};
use tokio::sync::mpsc;

#[tokio::test]
async fn kinode_client_api_logs_in_and_talks_to_a_bound_process() {
    let dir = browser_dir();
    let page = std::fs::read_to_string(dir.join("pages/webapp.html")).expect("the app page");
    let library = std::fs::read(dir.join("node_modules/@kinode/client-api/index.js"))
        .expect("@kinode/client-api is installed: run scripts/setup");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let node = TestNode::start(vec![web_procs::webapp(page, library, tx)]).await;
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("binds in time")
        .expect("webapp reports")
        .expect("binds accepted");
    node.set_password("browser password");

    let base = format!("http://{}", node.addr());
    let args = [base.clone(), "browser password".to_owned()];
    let result = run_driver("client_api.mjs", &args, Duration::from_secs(120)).await;

    assert_eq!(
        result["loginUrl"],
        format!("{base}/login?next=%2Fwebapp%3Atest%3Asys%2F")
    );
    assert_eq!(result["errorText"], "wrong password");
    let parse = |key: &str| -> Value {
        serde_json::from_str(result[key].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{key} is not JSON ({e}): {result}"))
    };
    // The page learnt its node and process from the node's `our.js`, as Kinode apps do.
    assert_eq!(
        result["our"],
        json!({ "node": "local.os", "process": "webapp:test:sys" })
    );
    // The first frame on the bound channel is the process's push, naming the bound path.
    assert_eq!(parse("greeting"), json!({ "hello": "/" }));
    let echo = parse("echo");
    assert_eq!(echo["echo"], json!({ "text": "hello from chromium" }));
    assert!(
        echo["channel_id"].as_u64().is_some_and(|id| id > 0),
        "{echo}"
    );
    // The login cookie is HttpOnly: the page's script cannot read it.
    let cookies = result["documentCookie"].as_str().unwrap_or_default();
    assert!(!cookies.contains("kinode-auth"), "{cookies}");
    // `?next=//evil.test/…` is not followed: the page goes home instead.
    assert_eq!(result["afterForeignNext"], format!("{base}/"));
}
