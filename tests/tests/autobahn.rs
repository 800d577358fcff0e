//! WebSocket conformance: the Autobahn|Testsuite's fuzzing client (cases 1–7 and 10) against
//! the bundled echo process, on its bound path and through the register flow. Every case's
//! verdict and close code must match the results committed in `tests/autobahn/`; a change
//! either way fails, so an improvement is committed as the new expectation.
//!
//! `AUTOBAHN_BLESS=1 cargo test -p switchboard-tests --test autobahn` rewrites the expected
//! results from this run. Without Python 2.7 (which wstest needs) the suite is skipped, saying so.

use process_lib::ProcessId;
use switchboard_tests::autobahn::{self, RegisterProxy, Run};
use switchboard_tests::{eventually, TestNode, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_on_its_bound_path_passes_the_fuzzing_client() {
    let node = TestNode::start(vec![]).await;
    let echo: ProcessId = processes::echo::ID.parse().expect("echo's id");
    eventually(WAIT, "echo binds its path", async || {
        node.node.is_ws_bound(&echo, processes::echo::WS_PATH)
    })
    .await;
    let url = format!(
        "ws://{}/{}{}?token={}",
        node.addr(),
        processes::echo::ID,
        processes::echo::WS_PATH,
        node.token()
    );
    check("bound-path", &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_through_the_register_flow_passes_the_fuzzing_client() {
    let node = TestNode::start(vec![]).await;
    let proxy = RegisterProxy::start(node.addr(), &node.token(), processes::echo::ID).await;
    check("register-flow", &proxy.url()).await;
}

/// Runs the suite at `url` and compares every case with `tests/autobahn/NAME.json`; the
/// report stays in `target/autobahn/reports/NAME/`.
async fn check(name: &str, url: &str) {
    let expected = format!("tests/autobahn/{name}.json");
    let expected = expected.as_str();
    let out = autobahn::report_dir(name);
    let results = match autobahn::run_suite(url, &out).await {
        Run::Done(results) => results,
        Run::NoPython(said) => {
            eprintln!("SKIPPED: the Autobahn|Testsuite did not run: {said}");
            return;
        }
    };
    eprintln!("{expected}: {:?}", autobahn::tally(&results));
    if std::env::var_os("AUTOBAHN_BLESS").is_some() {
        autobahn::write_expected(expected, &results);
        return;
    }
    let differences = autobahn::differences(&autobahn::read_expected(expected), &results);
    assert!(
        differences.is_empty(),
        "{} cases changed (report: {}/index.html; AUTOBAHN_BLESS=1 to accept):\n{}",
        differences.len(),
        out.display(),
        differences.join("\n")
    );
}
