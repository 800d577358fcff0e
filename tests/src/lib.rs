//! # switchboard-tests
//!
//! Helpers for the integration tests in `tests/`: a node on port 0 with a temporary home
//! ([`TestNode`]), a plain WebSocket client that speaks the register flow ([`WsClient`]),
//! and processes written against `process_lib` that exist only to be tested against
//! ([`procs`]).
//!
//! ## Layout
//! - [`node`]: the `TestNode` type.
//! - [`browser`]: running a headless-Chromium driver from `browser/`, whole or step by step.
//! - [`client`]: the `WsClient` type and what it reads (`Frame`).
//! - [`kinode`]: `kinode:test:sys`, the WebSocket handler from Kinode's docs, as they write it.
//! - [`pki`]: a private CA (rcgen) that issues node certificates, valid or expired.
//! - [`nats`]: a NATS server of the test's own, for clustered nodes; [`cluster`]: instances
//!   of one node on it.
//! - [`mesh`]: several nodes with keys and peers (`Plan`), and waits on their links.
//! - [`ops`]: the internal port: GETs, scrapes, `promtool`, a real Prometheus server.
//! - [`outside`]: processes run outside the node over the process socket; `ask`.
//! - [`remote`]: `peer:test:sys`, driven by the test, for requests and pushes across nodes.
//! - [`procs`]: recorder, crasher, flooder, a crashable chat, and the seed's example
//!   handler ported.
//! - [`web`]: a raw HTTP client, WebSocket connects with chosen headers, a TLS client config.
//! - [`web_procs`]: processes that bind WebSocket and HTTP paths.
//! - [`wait`]: [`eventually`], the one way a test waits for what no event announces.
//! - [`autobahn`]: running the Autobahn|Testsuite, its results, and a proxy into the register flow.

pub mod autobahn;
pub mod browser;
pub mod client;
pub mod cluster;
pub mod kinode;
pub mod mesh;
pub mod nats;
pub mod node;
pub mod ops;
pub mod outside;
pub mod pki;
pub mod procs;
pub mod remote;
pub mod wait;
pub mod web;
pub mod web_procs;

pub use client::{Frame, WsClient};
pub use node::TestNode;
pub use wait::eventually;

/// How long any single wait in a test may take before the test fails.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(10);
