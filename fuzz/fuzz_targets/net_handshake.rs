//! A stranger on the net port: whatever bytes it sends as Noise handshake messages (to a
//! node answering, or to a node that dialed it), and then as transport frames, end in an
//! error and never a panic.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use gateway::net::handshake::{initiate, respond};
use gateway::net::Identity;
use libfuzzer_sys::fuzz_target;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    // Timers on: the answering side gives a silent dialer a deadline for its first message.
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
});
static OURS: LazyLock<Identity> = LazyLock::new(|| Identity::generate().expect("a key"));
static THEIRS: LazyLock<Identity> = LazyLock::new(|| Identity::generate().expect("a key"));

fuzz_target!(|data: &[u8]| {
    let Some((&role, sent)) = data.split_first() else {
        return;
    };
    RUNTIME.block_on(async {
        // Reads come from the fuzzer's bytes, then end; writes go nowhere.
        let mut stream = tokio::io::join(sent, tokio::io::sink());
        let result = if role & 1 == 0 {
            respond(
                &mut stream,
                &OURS,
                "alice.os",
                Duration::from_secs(2),
                |_| Some(THEIRS.public()),
            )
            .await
        } else {
            initiate(&mut stream, &OURS, "alice.os", "bob.os", THEIRS.public()).await
        };
        // Completing it would take the keys of a peer the fuzzer does not have.
        assert!(result.is_err());
    });
});
