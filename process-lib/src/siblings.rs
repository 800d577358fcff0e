//! A process's siblings: the same process on the other live instances of this node, when the
//! node runs as a cluster. A process lists them ([`list`]), asks one and awaits its answer
//! ([`request`]), or tells all of them something ([`publish`]); it never learns how the
//! instances reach each other. On a node that is not clustered there are no siblings: the list
//! is empty, a request fails with [`SiblingError::NotClustered`] and a publish reaches 0.
//!
//! A sibling's request or publish reaches the process through `await_message` as a
//! `Message::Request` whose source is the process's own address ([`is_from_sibling`] says so);
//! a request that waits for an answer is answered with `Response::new().body(..).send()`, as
//! any other.
//!
//! ```ignore
//! for sibling in process_lib::siblings::list() {
//!     let reply = process_lib::siblings::request(sibling, "count", None, Duration::from_secs(2)).await?;
//!     println!("instance {} says {}", sibling.instance, String::from_utf8_lossy(&reply.body));
//! }
//! let reached = process_lib::siblings::publish("reload", None);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::blob::LazyLoadBlob;
use crate::host::{context, with_context};
use crate::message::Message;

/// A future a host hands back, boxed so the host trait stays object-safe.
pub type HostFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The same process on another live instance of this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sibling {
    /// The instance's number in the node's cluster (1 to 255).
    pub instance: u8,
}

/// A sibling's answer to a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiblingReply {
    /// The body of its response.
    pub body: Vec<u8>,
    /// The blob of its response.
    pub blob: Option<LazyLoadBlob>,
}

/// Why a request to a sibling got no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SiblingError {
    /// The node is not clustered, so there are no siblings.
    #[error("this node does not run as a cluster, so the process has no siblings")]
    NotClustered,
    /// Nothing answers for that instance: it stopped, was killed, or never existed.
    #[error("instance {0} of this node is gone (it stopped or is not reachable)")]
    Gone(u8),
    /// The instance is there, but this process does not run on it.
    #[error("instance {0} of this node does not run this process")]
    NotRunning(u8),
    /// The sibling did not answer in time.
    #[error("instance {instance} did not answer within {timeout:?}")]
    Timeout {
        /// The instance asked.
        instance: u8,
        /// How long the request waited.
        timeout: Duration,
    },
    /// This instance cannot reach the others just now (its link to them is down).
    #[error("the other instances of this node cannot be reached now: {0}")]
    Unreachable(String),
}

/// The siblings live now, by instance number; empty on a node that is not clustered.
#[track_caller]
pub fn list() -> Vec<Sibling> {
    with_context(|ctx| ctx.host.siblings(&ctx.our.process))
        .into_iter()
        .map(|instance| Sibling { instance })
        .collect()
}

/// Sends `body` (and `blob`) to `sibling` and awaits its response, for at most `timeout`.
pub async fn request(
    sibling: Sibling,
    body: impl Into<Vec<u8>>,
    blob: Option<LazyLoadBlob>,
    timeout: Duration,
) -> Result<SiblingReply, SiblingError> {
    let ctx = context();
    let asked = ctx
        .host
        .sibling_request(&ctx.our, sibling.instance, body.into(), blob, timeout);
    asked.await
}

/// Sends `body` (and `blob`) to every sibling, answered by none; returns how many siblings
/// it was sent to (0 when the node is not clustered or the others cannot be reached now).
#[track_caller]
pub fn publish(body: impl Into<Vec<u8>>, blob: Option<LazyLoadBlob>) -> usize {
    let body = body.into();
    with_context(|ctx| ctx.host.sibling_publish(&ctx.our, body, blob))
}

/// Whether `message` came from a sibling: its source is this process's own address.
#[track_caller]
pub fn is_from_sibling(message: &Message) -> bool {
    with_context(|ctx| message.source() == &ctx.our)
}
