//! Waiting on what no event announces: [`eventually`] checks a condition again until it
//! holds, within a bound, so a test never sleeps a fixed time to let things settle.

use std::time::Duration;

/// How long [`eventually`] rests between two checks.
const RECHECK: Duration = Duration::from_millis(10);

/// Checks `condition` until it holds; fails the test with `what` when `within` has passed.
/// The condition may itself wait (a request, a connect), so it is an async closure; a plain
/// one is `async || counter() == 3`.
pub async fn eventually(within: Duration, what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not in time: {what}"
        );
        tokio::time::sleep(RECHECK).await;
    }
}
