//! The status page on the internal port, in headless Chromium: it shows the node's numbers,
//! and its charts draw and grow by themselves.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use switchboard_tests::browser::run_driver;
use switchboard_tests::ops::{self, scrape_until};

#[tokio::test]
async fn the_status_page_shows_the_node_and_its_charts_update_by_themselves() {
    let (node, metrics) = ops::start(vec![]).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(node.register("echo:echo:sys").await.0);
    }
    // Two clients keep echoing while the page is open, so frames per second is not 0.
    let stop = Arc::new(AtomicBool::new(false));
    let echoing: Vec<_> = clients
        .drain(..2)
        .map(|mut client| {
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    client.send_text("tick").await;
                    assert_eq!(client.next_text().await, "tick");
                }
                client
            })
        })
        .collect();
    scrape_until(metrics, "echo traffic under way", |s| {
        s.value("switchboard_frames_received_total", &[]) >= 50.0
    })
    .await;

    let url = format!("http://{metrics}/status");
    let shown = run_driver("status.mjs", &[url, "3".into()], Duration::from_secs(90)).await;
    stop.store(true, Ordering::Relaxed);
    for task in echoing {
        clients.push(task.await.expect("an echoing client"));
    }

    assert_eq!(shown["status"], 200);
    assert_eq!(shown["failed"], serde_json::json!([]), "{shown}");
    assert_eq!(
        shown["outside"],
        serde_json::json!([]),
        "the page loads nothing from elsewhere"
    );
    assert_eq!(shown["error"], "", "{shown}");
    assert_eq!(shown["node"], "local.os");
    assert_eq!(shown["title"], "Switchboard local.os");
    assert_eq!(shown["state"], "ready");
    assert_eq!(shown["connections"], "3");
    assert_eq!(shown["channels"], "3");
    let uptime = shown["uptime"].as_str().unwrap_or_default();
    assert!(
        uptime.ends_with('s') && uptime.len() >= 2,
        "uptime {uptime:?}"
    );
    let number = |key: &str| -> f64 {
        // The page writes `1234`, `17.9 k`, `3.2 M`.
        let text = shown[key].as_str().unwrap_or_default();
        let (digits, unit) = text.split_once(' ').unwrap_or((text, ""));
        let scale = match unit {
            "" => 1.0,
            "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            other => panic!("{key} has an unknown unit {other:?}"),
        };
        let value: f64 = digits
            .parse()
            .unwrap_or_else(|_| panic!("{key} is not a number: {text:?}"));
        value * scale
    };
    assert!(
        number("fps") > 0.0,
        "frames per second while clients echo: {shown}"
    );
    assert!(number("framesIn") >= 50.0, "{shown}");
    assert!(number("framesOut") >= 50.0, "{shown}");
    let echo_row = shown["processes"]
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row[0] == "echo:echo:sys"))
        .unwrap_or_else(|| panic!("no echo row: {shown}"));
    assert_eq!(echo_row[1], "3");
    assert_eq!(shown["links"][0][0], "no peers configured");
    // The charts drew lines, and gained a point after the page updated once more.
    let first = shown["firstSamples"].as_u64().unwrap_or_default();
    assert!(first >= 1, "{shown}");
    assert!(
        shown["fpsSamples"].as_u64().unwrap_or_default() > first,
        "{shown}"
    );
    assert!(
        shown["connectionsPainted"].as_u64().unwrap_or_default() > 50,
        "{shown}"
    );
    assert!(
        shown["fpsPainted"].as_u64().unwrap_or_default() > 50,
        "{shown}"
    );
    drop(clients);
}
