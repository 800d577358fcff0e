//! The logs and maps a process shares with its siblings, kept by JetStream so they outlive
//! any instance: a [`JetStreamLog`] is a stream (a record's number is its stream sequence), a
//! [`JetStreamMap`] a key-value bucket whose age limit is the map's time to live. Both are
//! made on first use, so asking for one returns at once and works once NATS is there.
//!
//! Streams are named `switchboard_<node>_<process>_<log>`, buckets the same with `_kv`, with
//! `.` and `:` written `_`.
//!
//! - [`log`]: the log. [`map`]: the map.

pub mod log;
pub mod map;

use std::time::Duration;

use async_nats::jetstream::Context;
use process_lib::shared::SharedError;
use process_lib::ProcessId;

pub use log::JetStreamLog;
pub use map::JetStreamMap;

/// How long one read or request to JetStream may take before it is given up.
pub(super) const PATIENCE: Duration = Duration::from_secs(5);
/// How long a follower waits before following again after losing its consumer.
pub(super) const RETRY: Duration = Duration::from_millis(250);
/// Records a follower holds for a process that has not taken them yet.
pub(super) const FOLLOW_QUEUE: usize = 1024;

/// The part of a stream or bucket name that names a process's log or map.
pub(super) fn stem(node: &str, process: &ProcessId, name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ok.then(|| {
        format!(
            "{node}_{}_{name}",
            process.to_string().replace([':', '.'], "_")
        )
    })
}

pub(super) fn unreachable(error: impl std::fmt::Display) -> SharedError {
    SharedError::Unreachable(error.to_string())
}

/// Refuses at once while the link to NATS is down. A request made then would wait for the
/// link (holding up the process that asked); a publish would wait in the client's buffer and
/// might be stored long after its sender was told it failed.
pub(super) fn linked(jetstream: &Context) -> Result<(), SharedError> {
    match jetstream.client().connection_state() {
        async_nats::connection::State::Connected => Ok(()),
        _ => Err(unreachable("the link to NATS is down")),
    }
}

pub(super) async fn patiently<T, E: std::fmt::Display>(
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, SharedError> {
    tokio::time::timeout(PATIENCE, work)
        .await
        .map_err(|_| unreachable("JetStream did not answer in time"))?
        .map_err(unreachable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_spelled_for_nats() {
        let chat: ProcessId = "chat:chat:sys".parse().unwrap();
        assert_eq!(
            stem("a_os", &chat, "room").as_deref(),
            Some("a_os_chat_chat_sys_room")
        );
        assert_eq!(stem("a_os", &chat, "Room"), None);
        assert_eq!(stem("a_os", &chat, ""), None);
    }
}
