//! What a node counts about itself, for its operators: plain atomic counters that the hot
//! path bumps, and the Prometheus recorder that turns them into the text `/metrics` serves
//! (see [`crate::ops`]). Plain parts: nothing here reaches the runtime.
//!
//! ## Layout
//! - [`traffic`]: frames and bytes, counted per channel by the one task that moves them.
//! - [`tally`]: counts by label, for events rare enough to take a lock (closes, logins).
//! - [`latency`]: the sampled time from a push to its bytes reaching the socket.
//!
//! ## Cost on the hot path
//! Frames are counted per channel, by whoever moves them and with no read-modify-write
//! (the reader owns the received counts; the sent counts change only under the socket's
//! lock). A scrape adds the live channels' counts to the totals of the closed ones. Per push,
//! the one other thing done is a thread-local tick that picks one push in
//! [`latency::SAMPLE_EVERY`] to time.

pub mod latency;
pub mod tally;
pub mod traffic;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use metrics::{Histogram, Key, KeyName, Metadata};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use process_lib::HttpServerError;

pub use tally::Tally;
pub use traffic::{Traffic, TrafficTotals};

/// The push-to-socket histogram's name.
pub const PUSH_TO_SOCKET: &str = "switchboard_push_to_socket_seconds";

/// Bucket bounds of the push-to-socket histogram, in seconds: 10 µs to 2.5 s.
const PUSH_TO_SOCKET_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Every push refusal kind, in the order of [`Telemetry::push_refusals`].
pub const PUSH_REFUSAL_KINDS: [HttpServerError; 7] = [
    HttpServerError::WsChannelNotFound,
    HttpServerError::NoBlob,
    HttpServerError::MalformedRequest,
    HttpServerError::InvalidSourceProcess,
    HttpServerError::WsPingPongTooLong,
    HttpServerError::SlowConsumer,
    HttpServerError::InstanceUnreachable,
];

/// A push refusal's label: its name in snake case.
pub fn refusal_kind(error: HttpServerError) -> &'static str {
    match error {
        HttpServerError::WsChannelNotFound => "ws_channel_not_found",
        HttpServerError::NoBlob => "no_blob",
        HttpServerError::MalformedRequest => "malformed_request",
        HttpServerError::InvalidSourceProcess => "invalid_source_process",
        HttpServerError::WsPingPongTooLong => "ws_ping_pong_too_long",
        HttpServerError::SlowConsumer => "slow_consumer",
        HttpServerError::InstanceUnreachable => "instance_unreachable",
    }
}

/// A node's counters, one set per node (a test process may run several nodes).
#[derive(Debug)]
pub struct Telemetry {
    /// When the node started.
    pub started: Instant,
    /// What channels that have closed received and sent; the live ones' counts are summed
    /// at each scrape.
    pub closed_traffic: TrafficTotals,
    /// Channel admissions (register frames and bound-path upgrades) by outcome: `ok`, or
    /// the error code the client was refused with, or `gone` (left before registering).
    pub registers: Tally,
    /// Sockets the node closed or saw closed, by close code (1006: no close frame).
    pub closes: Tally,
    /// Pushes refused, by kind (indexed like [`PUSH_REFUSAL_KINDS`]).
    push_refusals: [AtomicU64; PUSH_REFUSAL_KINDS.len()],
    /// Channels closed because their client did not read fast enough.
    pub slow_consumer_closes: AtomicU64,
    /// Process restarts, by process.
    pub restarts: Tally,
    /// `POST /login` attempts, by outcome (`ok`, `wrong_password`, `too_many_attempts`, …).
    pub logins: Tally,
    /// The sampled push-to-socket times (a no-op when the node serves no metrics).
    pub push_to_socket: Histogram,
    recorder: PrometheusRecorder,
}

impl Telemetry {
    /// Counters for a node; `exported` says whether anything will read them, which turns
    /// on the push-to-socket samples (they are kept until a scrape or an upkeep takes them).
    pub fn new(exported: bool) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(PUSH_TO_SOCKET.to_owned()),
                PUSH_TO_SOCKET_BUCKETS,
            )
            .map_or_else(
                |_| PrometheusBuilder::new().build_recorder(),
                PrometheusBuilder::build_recorder,
            );
        let push_to_socket = if exported {
            recorder.describe(
                PUSH_TO_SOCKET,
                "Time from a push to its bytes reaching the socket, sampled (one push in 64).",
            );
            recorder_histogram(&recorder, PUSH_TO_SOCKET)
        } else {
            Histogram::noop()
        };
        Self {
            started: Instant::now(),
            closed_traffic: TrafficTotals::default(),
            registers: Tally::default(),
            closes: Tally::default(),
            push_refusals: Default::default(),
            slow_consumer_closes: AtomicU64::new(0),
            restarts: Tally::default(),
            logins: Tally::default(),
            push_to_socket,
            recorder,
        }
    }

    /// Counts a refused push.
    pub fn push_refused(&self, error: HttpServerError) {
        let index = PUSH_REFUSAL_KINDS
            .iter()
            .position(|kind| *kind == error)
            .unwrap_or(0);
        self.push_refusals[index].fetch_add(1, Ordering::Relaxed);
    }

    /// Refused pushes by kind.
    pub fn push_refusals(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        PUSH_REFUSAL_KINDS
            .iter()
            .zip(&self.push_refusals)
            .map(|(kind, count)| (refusal_kind(*kind), count.load(Ordering::Relaxed)))
    }

    /// The recorder the exposition is rendered from.
    pub fn recorder(&self) -> &PrometheusRecorder {
        &self.recorder
    }
}

/// Naming and describing metrics on a recorder that no global points to.
pub trait Describe {
    /// Gives `name` its `# HELP` line.
    fn describe(&self, name: &'static str, help: &'static str);
}

impl Describe for PrometheusRecorder {
    fn describe(&self, name: &'static str, help: &'static str) {
        use metrics::Recorder;
        // One describe call serves every kind: the recorder keeps one table of help texts.
        self.describe_counter(KeyName::from_const_str(name), None, help.into());
    }
}

/// Metadata for handles registered by hand (the macros would make it).
pub static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

fn recorder_histogram(recorder: &PrometheusRecorder, name: &'static str) -> Histogram {
    use metrics::Recorder;
    recorder.register_histogram(&Key::from_static_name(name), &METADATA)
}
