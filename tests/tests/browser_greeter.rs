//! The greeter that `switchboard new` writes, compiled from its template, in a real browser:
//! log in, then greet through the page's socket on the bound path.

use std::time::Duration;

use switchboard_tests::browser::run_driver;
use switchboard_tests::TestNode;

// Its `ID` is the placeholder `switchboard new` fills in, so the test names the process.
#[allow(dead_code)]
#[path = "../../gateway/templates/new/greeter.rs"]
mod greeter;

const PROCESS: &str = "greeter:hello:local.os";

#[tokio::test]
async fn the_new_crates_page_logs_in_and_greets_through_its_bound_socket() {
    let processes = gateway::Switchboard::new()
        .process(PROCESS, greeter::run)
        .into_processes()
        .expect("a valid list");
    let node = TestNode::start(processes).await;
    node.set_password("greeter password");
    // An answer on a registered channel means the greeter is past its binds.
    let (mut client, _) = node.register(PROCESS).await;
    client
        .send_text(r#"{"type":"say","text":"the test"}"#)
        .await;
    let reply = client.next_json().await;
    assert_eq!(reply["text"], "Hello, the test!", "{reply}");

    let base = format!("http://{}", node.addr());
    let args = [
        base.clone(),
        PROCESS.to_owned(),
        "greeter password".to_owned(),
    ];
    let result = run_driver("greeter.mjs", &args, Duration::from_secs(120)).await;

    assert_eq!(
        result["loginUrl"],
        format!("{base}/login?next=%2Fgreeter%3Ahello%3Alocal.os%2F")
    );
    assert_eq!(result["title"], "Greeter");
    assert_eq!(
        result["log"],
        serde_json::json!([
            "Hello, Ada!",
            "error: send {\"type\":\"say\",\"text\":\"<a name>\"} to be greeted"
        ])
    );
}
