//! `web/switchboard.js` given two URLs of one node, in headless Chromium against real nodes:
//! when the node at the first URL goes away, the page's client moves to the second, asks for
//! what it missed since the last id it saw, and receives every message exactly once; a token
//! refused by every URL closes the client.

use std::time::Duration;

use gateway::Config;

use switchboard_tests::browser::SteppedDriver;
use switchboard_tests::client::say_in_chat;
use switchboard_tests::TestNode;

const STEP: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_browser_client_moves_to_the_second_url_and_misses_nothing() {
    let first = TestNode::start(vec![]).await;
    let token = first.token();
    let page_origin = format!("http://{}", first.addr());
    let second_addr = TestNode::unused_addr();
    let second_url = format!("ws://{second_addr}/");
    let args = [
        format!("{page_origin}/login"),
        token.clone(),
        first.url(),
        second_url.clone(),
    ];
    let mut driver = SteppedDriver::start("client_urls.mjs", &args);
    assert_eq!(driver.next(STEP).await["step"], "said");

    // The first node goes away; while neither URL answers, the home serves elsewhere for a
    // moment and a message is archived there: the page cannot have seen it live. Then the
    // node comes back at the second URL, accepting the page's origin.
    let first_url = first.url();
    let elsewhere = first.restart_at(([127, 0, 0, 1], 0).into(), vec![]).await;
    say_in_chat(&elsewhere.url(), &token, "while you were away").await;
    let TestNode { node, home } = elsewhere;
    node.shutdown().await;
    let mut config = Config::new(home.path());
    config.bind = second_addr;
    config.allowed_origins = vec![page_origin];
    let second = TestNode::start_with(config, home, vec![]).await;
    driver.go_on().await;

    let done = driver.next(STEP).await;
    driver.finish(STEP).await;
    assert_eq!(done["step"], "done");
    let seen: Vec<(u64, &str)> = done["seen"]
        .as_array()
        .expect("seen")
        .iter()
        .map(|m| (m[0].as_u64().expect("id"), m[1].as_str().expect("text")))
        .collect();
    let texts: Vec<&str> = seen.iter().map(|(_, t)| *t).collect();
    assert_eq!(
        texts,
        ["before", "while you were away", "after"],
        "each once"
    );
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
    assert_eq!(done["registrations"], 2);

    let states: Vec<(&str, &str)> = done["states"]
        .as_array()
        .expect("states")
        .iter()
        .map(|s| (s[0].as_str().expect("state"), s[1].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        states[..3],
        [
            ("connecting", first_url.as_str()),
            ("connected", first_url.as_str()),
            ("disconnected", first_url.as_str())
        ]
    );
    assert_eq!(
        states.last(),
        Some(&("connected", second_url.as_str())),
        "{states:?}"
    );
    // Between the two, the client goes round the URLs from the second. Each attempt is
    // announced with the URL it goes to twice: when it is scheduled (with its wait) and when
    // its socket opens.
    let mut announced: Vec<&str> = states
        .iter()
        .filter(|(state, _)| *state == "reconnecting")
        .map(|(_, url)| *url)
        .collect();
    announced.dedup();
    assert!(!announced.is_empty());
    for (n, url) in announced.iter().enumerate() {
        let expected = if n % 2 == 0 { &second_url } else { &first_url };
        assert_eq!(url, expected, "attempt {}: {states:?}", n + 1);
    }
    // A token refused by every URL closes the client with the refusal, each URL asked once.
    assert_eq!(
        done["refused"]["opened"],
        serde_json::json!([second_url, second_url])
    );
    assert_eq!(done["refused"]["error"]["code"], "unauthorized");
    second.node.shutdown().await;
}
