//! Net: pushes from a process on one node to channels on another. M subscribers register
//! to `broadcast:broadcast:sys` on alice and a publisher to the one on bob; every frame
//! the publisher sends is pushed by bob's broadcast over the Noise link, one node-to-node
//! push per subscriber, and alice's http-server hands each to its channel. The fan-out
//! machinery counts them: pushes/s is deliveries/s on alice, each checked to arrive, in
//! order, with its latency from publish to delivery.

use super::fanout::{self, FanoutParams, FanoutResult};
use crate::client::Target;
use crate::servers::NodePair;

/// Runs the net scenario on two linked nodes; the CPU counted is both nodes'.
pub async fn run(pair: &NodePair, params: FanoutParams) -> anyhow::Result<FanoutResult> {
    let alice = Target::of(&pair.alice);
    let bob = Target::of(&pair.bob);
    fanout::run_across(&alice, &bob, &[pair.alice.pid, pair.bob.pid], params).await
}
