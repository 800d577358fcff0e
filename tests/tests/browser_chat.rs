//! The chat page in headless Chromium against a real node: two pages chat, a whisper reaches
//! only its target, a reloaded page shows the history, a page whose socket is cut reconnects
//! and shows what it missed, binary frames arrive as ArrayBuffer, and no cookie means login.
//! Screenshots go to `target/screenshots/`.

use std::time::Duration;

use serde_json::Value;
use switchboard_tests::browser::run_driver;
use switchboard_tests::TestNode;

fn lines(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_chat_page_in_a_real_browser() {
    let node = TestNode::start(vec![]).await;
    let base = format!("http://{}", node.node.local_addr());
    let args = [base.clone(), node.token(), node.node.node().to_owned()];
    let result = run_driver("chat.mjs", &args, Duration::from_secs(120)).await;

    assert_eq!(
        result["redirect"]["url"],
        format!("{base}/login?next=/chat")
    );
    assert_eq!(result["redirect"]["chain"], format!("{base}/chat"));
    assert_eq!(result["names"], serde_json::json!(["user1", "user2"]));

    let chat_a = lines(&result["chatA"]);
    assert!(
        chat_a.iter().any(|l| l.ends_with("[user1]: hello from a")),
        "{chat_a:?}"
    );
    assert!(
        chat_a.iter().any(|l| l.ends_with("[user2]: hi a, b here")),
        "{chat_a:?}"
    );

    assert_eq!(
        lines(&result["whisperB"]).len(),
        1,
        "b got the whisper: {}",
        result["whisperB"]
    );
    assert!(
        lines(&result["whisperC"]).is_empty(),
        "c saw it: {}",
        result["whisperC"]
    );

    let reloaded = lines(&result["afterReload"]);
    assert!(
        reloaded
            .iter()
            .any(|l| l.ends_with("[user1]: hello from a")),
        "{reloaded:?}"
    );
    assert!(
        reloaded
            .iter()
            .any(|l| l.ends_with("[user2]: hi a, b here")),
        "{reloaded:?}"
    );

    assert_eq!(result["missedBeforeResume"], false);
    let after_cut = lines(&result["afterCut"]);
    let missed: Vec<_> = after_cut
        .iter()
        .filter(|l| l.ends_with("[user1]: while b was away"))
        .collect();
    assert_eq!(missed.len(), 1, "shown once: {after_cut:?}");
    assert!(
        after_cut.iter().any(|l| l.contains("reconnecting")),
        "{after_cut:?}"
    );
    assert_eq!(result["registrationsB"], 2);
    assert_eq!(result["nameAfterCut"], "bee");

    assert_eq!(
        result["binary"],
        serde_json::json!({"isArrayBuffer": true, "bytes": [1, 2, 250]})
    );
}
