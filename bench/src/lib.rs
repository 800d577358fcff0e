//! # switchboard-bench
//!
//! The load generator behind Switchboard's side-by-side benchmarks. It starts each server
//! under test as its own process (Switchboard's release binary, the bare tokio-tungstenite
//! baselines in `tt-server`, and Node's `ws` in `node/server.mjs`), pinned to one core while
//! the generator runs on the other, drives the same scenarios against each in the same
//! invocation, and writes `bench/RESULTS.md` with a chart.
//!
//! ## Layout
//! - [`servers`]: what each server under test is and how it is started and stopped.
//! - [`client`]: connecting from rotating 127.0.0.x source addresses; register or plain flow.
//! - [`procfs`]: a process's RSS and CPU time from `/proc`.
//! - [`scenario`]: `echo`, `idle` and `fanout`, each bounded in time and count.
//! - [`compare`]: every server × every scenario × N runs.
//! - [`curves`]: the cost curves, point by point on fresh servers, one server at a time.
//! - [`audience`]: the cluster scenario's publishing process, run outside the nodes.
//! - [`report`], [`chart`]: `RESULTS.md` (medians, min–max, run-by-run ratios) and the PNG.
//! - [`soak_chart`]: `soak.png`, the soak's samples over time.
//! - [`curves_chart`]: `curves.png`, the cost curves.
//!
//! A scenario is a function of a [`servers::Server`] and its parameters returning a plain
//! result struct; adding one (e.g. pushes between two nodes) means a file in `scenario/`, a
//! field in [`compare::ServerRun`], and a table in [`report`].

pub mod audience;
pub mod chart;
pub mod client;
pub mod compare;
pub mod curves;
pub mod curves_chart;
pub mod procfs;
pub mod report;
pub mod scenario;
pub mod servers;
pub mod soak_chart;

/// Raises this process's open-file limit to its hard limit; returns the limit in force.
pub fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(_) => rlimit::getrlimit(rlimit::Resource::NOFILE)
            .map(|(soft, _)| soft)
            .unwrap_or(1024),
    }
}
