//! Cluster: one node run as several instances on one NATS server (all on this machine),
//! against the same node run as one process, in the same run. M subscribers and a publisher
//! register to [`crate::audience`]'s process; every frame published is pushed to every
//! subscriber with one `send_ws_push_many`, which the publisher's instance delivers to its
//! own subscribers and sends to each other instance in one NATS message.
//!
//! Four sessions take their slices in turn: the single node; the cluster with the
//! subscribers spread over every instance (the scenario's figure); and the cluster with
//! every subscriber on the publisher's instance ("local") or on another one ("remote"),
//! whose CPU per delivery gives the cost of a delivery across instances against a local one.

use super::fanout::{FanoutParams, FanoutResult, FanoutSession};
use crate::client::{Endpoint, Target};
use crate::servers::{self, Programs};

/// What to run.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct ClusterParams {
    /// Instances of the clustered node (at least 2).
    pub instances: usize,
    /// Subscribers, frame size, frames in flight and publishing time of every session.
    pub fanout: FanoutParams,
}

impl Default for ClusterParams {
    fn default() -> Self {
        Self {
            instances: 3,
            fanout: FanoutParams {
                subscribers: 1_000,
                size: 32,
                window: 16,
                duration: std::time::Duration::from_secs(5),
            },
        }
    }
}

/// What was measured. The CPU counted for a cluster session is every instance's, their
/// publishing processes' and the NATS server's; for the single node, the node's and its
/// publishing process's.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct ClusterResult {
    /// One node, every subscriber and the publisher on it.
    pub single: FanoutResult,
    /// The cluster, subscribers spread over every instance, the publisher on the first.
    pub spread: FanoutResult,
    /// The cluster, every subscriber on the publisher's instance.
    pub local: FanoutResult,
    /// The cluster, every subscriber on the second instance, the publisher on the first.
    pub remote: FanoutResult,
}

/// Server CPU time per delivery, in microseconds.
pub fn cpu_us_per_delivery(result: &FanoutResult) -> f64 {
    if result.deliveries_per_s <= 0.0 {
        return 0.0;
    }
    result.cpu.server_pct * 1e4 / result.deliveries_per_s
}

/// Starts the single node and the cluster on `core`, runs the four sessions in `slices`
/// turns each, and stops everything.
pub async fn run(
    programs: &Programs,
    core: Option<usize>,
    params: ClusterParams,
    slices: u32,
) -> anyhow::Result<ClusterResult> {
    anyhow::ensure!(params.instances >= 2, "a cluster needs two instances");
    let single = servers::start_with_audience(programs, core, "").await?;
    let cluster = match servers::start_cluster(programs, core, params.instances).await {
        Ok(cluster) => cluster,
        Err(error) => {
            single.stop().await;
            return Err(error);
        }
    };
    let result = measure(&single, &cluster, params, slices).await;
    single.stop().await;
    cluster.stop().await;
    result
}

async fn measure(
    single: &servers::Server,
    cluster: &servers::Cluster,
    params: ClusterParams,
    slices: u32,
) -> anyhow::Result<ClusterResult> {
    let instances: Vec<Target> = cluster.instances.iter().map(Target::of).collect();
    let first = &instances[0];
    let alone = Target::of(single);
    let single_pids: Vec<u32> = std::iter::once(single.pid)
        .chain(single.helper_pid)
        .collect();
    let cluster_pids = cluster.pids();
    let fanout = params.fanout;
    let open = |subscribers_at: Vec<Target>, publisher_at: Target, pids: Vec<u32>| async move {
        FanoutSession::open(
            &subscribers_at,
            &publisher_at,
            &pids,
            Endpoint::Audience,
            fanout,
        )
        .await
    };
    let mut sessions = vec![
        open(vec![alone.clone()], alone.clone(), single_pids).await?,
        open(instances.clone(), first.clone(), cluster_pids.clone()).await?,
        open(vec![first.clone()], first.clone(), cluster_pids.clone()).await?,
        open(vec![instances[1].clone()], first.clone(), cluster_pids).await?,
    ];
    let slices = slices.max(1);
    let slice = fanout.duration / slices;
    let count = sessions.len();
    for round in 0..count * slices as usize {
        let turn = (round + round / count) % count;
        sessions[turn].slice(slice).await?;
    }
    let mut results = Vec::with_capacity(count);
    for session in sessions {
        results.push(session.finish().await?);
    }
    Ok(ClusterResult {
        single: results[0],
        spread: results[1],
        local: results[2],
        remote: results[3],
    })
}
