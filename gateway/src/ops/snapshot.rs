//! The node's state at one moment, read once per scrape or status poll: what `/metrics`,
//! `/ready` and `/status.json` report.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::runtime::Runtime;
use crate::telemetry::traffic::TrafficSums;

/// One link to a configured peer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LinkStatus {
    /// The peer's node name.
    pub peer: String,
    /// Whether a link is up.
    pub up: bool,
    /// Whether this node dials the peer (so needs it to be ready).
    pub dials: bool,
    /// Bytes written to the peer's links.
    pub bytes_sent: u64,
    /// Bytes read from them.
    pub bytes_received: u64,
    /// Links that came up again after the first.
    pub reconnects: u64,
}

/// One running process.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProcessStatus {
    /// Its id.
    pub process: String,
    /// Channels bound to it.
    pub channels: usize,
    /// Messages waiting in its mailbox.
    pub mailbox: usize,
}

/// The node now.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Since the node started.
    pub uptime: Duration,
    /// WebSocket connections held.
    pub connections: usize,
    /// Every running process (and any process a channel is still bound to), by id.
    pub processes: Vec<ProcessStatus>,
    /// What every channel, live or closed, received and sent.
    pub traffic: TrafficSums,
    /// Every configured peer, by name.
    pub links: Vec<LinkStatus>,
    /// Why the node is not ready; empty when it is.
    pub not_ready: Vec<String>,
}

impl Snapshot {
    /// Reads the node.
    pub fn take(rt: &Runtime) -> Self {
        let census = rt.channels.census();
        let mut processes: Vec<ProcessStatus> = rt
            .processes
            .mailbox_depths()
            .into_iter()
            .map(|(id, mailbox)| ProcessStatus {
                channels: census.by_process.get(&id).copied().unwrap_or(0),
                process: id.to_string(),
                mailbox,
            })
            .collect();
        for (id, &channels) in &census.by_process {
            if !processes.iter().any(|p| p.process == id.as_str()) {
                processes.push(ProcessStatus {
                    process: id.to_string(),
                    channels,
                    mailbox: 0,
                });
            }
        }
        processes.sort_by(|a, b| a.process.cmp(&b.process));
        let mut traffic = rt.telemetry.closed_traffic.get();
        traffic += census.traffic;
        let mut links: Vec<LinkStatus> = rt
            .net
            .peers
            .iter()
            .map(|peer| LinkStatus {
                peer: peer.name.clone(),
                up: peer.is_up(),
                dials: peer.dials(),
                bytes_sent: peer.bytes_sent.load(Ordering::Relaxed),
                bytes_received: peer.bytes_received.load(Ordering::Relaxed),
                reconnects: peer.reconnects(),
            })
            .collect();
        links.sort_by(|a, b| a.peer.cmp(&b.peer));
        Self {
            uptime: rt.telemetry.started.elapsed(),
            connections: rt.open_connections(),
            processes,
            traffic,
            not_ready: not_ready(rt),
            links,
        }
    }

    /// Channels open, over every process.
    pub fn channels(&self) -> usize {
        self.processes.iter().map(|p| p.channels).sum()
    }
}

/// Why the node should get no new clients now: it is stopping, or a peer it dials is not
/// linked. Empty when it is ready.
pub fn not_ready(rt: &Runtime) -> Vec<String> {
    let mut reasons = Vec::new();
    if rt.is_draining() {
        reasons.push("the node is draining".to_owned());
    }
    let mut down: Vec<&str> = rt
        .net
        .peers
        .iter()
        .filter(|peer| peer.dials() && !peer.is_up())
        .map(|peer| peer.name.as_str())
        .collect();
    down.sort_unstable();
    reasons.extend(
        down.into_iter()
            .map(|peer| format!("peer {peer} is not linked")),
    );
    reasons
}
