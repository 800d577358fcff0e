//! A real browser reaches a node: the harness that the browser tests build on works.

use std::time::Duration;

use switchboard_tests::browser::run_driver;
use switchboard_tests::TestNode;

#[tokio::test]
async fn headless_chromium_loads_the_node_index() {
    let node = TestNode::start(vec![]).await;
    let url = format!("http://{}/", node.node.local_addr());
    let result = run_driver("smoke.mjs", &[url], Duration::from_secs(60)).await;
    assert_eq!(result["status"], 200);
    let text = result["text"].as_str().unwrap_or_default();
    assert!(text.contains("Switchboard node local.os"), "{text}");
}
