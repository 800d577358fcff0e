//! `GET /metrics`: the node's counters in the Prometheus text format (0.0.4), rendered by
//! `metrics-exporter-prometheus` from a recorder that belongs to the node.
//!
//! The hot path keeps its own plain counters ([`crate::telemetry`]); a scrape copies them
//! into the recorder's handles (`absolute`, which never lets a counter go back) and renders.
//! Counters that only grow may lag a closing channel by one scrape, never go down.

use metrics::{Key, Label, Recorder};
use metrics_exporter_prometheus::PrometheusRecorder;

use super::snapshot::Snapshot;
use crate::runtime::Runtime;
use crate::telemetry::{Describe, METADATA};

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric the node exports, with its help text.
pub const METRICS: &[(&str, &str)] = &[
    ("switchboard_up", "1 while the node runs."),
    ("switchboard_ready", "1 when the node accepts clients (as GET /ready says), 0 while draining or a peer it dials is not linked."),
    ("switchboard_uptime_seconds", "Seconds since the node started."),
    ("switchboard_connections_open", "WebSocket connections held (admitted, or being admitted)."),
    ("switchboard_channels_open", "Open channels, by the process they are bound to."),
    ("switchboard_registers_total", "Channel admissions (register frames and bound-path upgrades), by outcome: ok, the error code of the refusal, or gone (left before registering)."),
    ("switchboard_closes_total", "WebSocket closes, by close code (1006: ended with no close frame)."),
    ("switchboard_frames_received_total", "Text and binary frames clients sent on channels."),
    ("switchboard_received_bytes_total", "Payload bytes of the frames clients sent on channels."),
    ("switchboard_frames_sent_total", "Frames pushed to clients and handed to their sockets."),
    ("switchboard_sent_bytes_total", "Bytes on the wire of the frames pushed to clients."),
    ("switchboard_push_refusals_total", "Pushes refused, by kind (the error the pusher got)."),
    ("switchboard_slow_consumer_closes_total", "Channels closed because their client did not read fast enough."),
    ("switchboard_process_restarts_total", "Restarts after a crash or failure, by process."),
    ("switchboard_mailbox_depth", "Messages waiting in a process's mailbox."),
    ("switchboard_login_attempts_total", "POST /login attempts, by outcome."),
    ("switchboard_peer_up", "1 while the link to a configured peer is up."),
    ("switchboard_peer_sent_bytes_total", "Bytes written to a peer's links (framed and encrypted)."),
    ("switchboard_peer_received_bytes_total", "Bytes read from a peer's links (framed and encrypted)."),
    ("switchboard_peer_reconnects_total", "Links to a peer that came up again after the first."),
];

/// Renders the exposition for `rt`, as of `now`.
pub fn render(rt: &Runtime, now: &Snapshot) -> String {
    let recorder = rt.telemetry.recorder();
    for (name, help) in METRICS {
        recorder.describe(name, help);
    }
    let out = Out(recorder);
    let telemetry = &rt.telemetry;
    out.gauge("switchboard_up", &[], 1.0);
    out.gauge(
        "switchboard_ready",
        &[],
        f64::from(u8::from(now.not_ready.is_empty())),
    );
    out.gauge("switchboard_uptime_seconds", &[], now.uptime.as_secs_f64());
    out.gauge("switchboard_connections_open", &[], now.connections as f64);
    for process in &now.processes {
        let labels = [("process", process.process.as_str())];
        out.gauge(
            "switchboard_channels_open",
            &labels,
            process.channels as f64,
        );
        out.gauge("switchboard_mailbox_depth", &labels, process.mailbox as f64);
    }
    out.tally(
        "switchboard_registers_total",
        "outcome",
        &telemetry.registers,
    );
    out.tally("switchboard_closes_total", "code", &telemetry.closes);
    out.tally(
        "switchboard_process_restarts_total",
        "process",
        &telemetry.restarts,
    );
    out.tally(
        "switchboard_login_attempts_total",
        "outcome",
        &telemetry.logins,
    );
    let traffic = now.traffic;
    out.counter("switchboard_frames_received_total", &[], traffic.frames_in);
    out.counter("switchboard_received_bytes_total", &[], traffic.bytes_in);
    out.counter("switchboard_frames_sent_total", &[], traffic.frames_out);
    out.counter("switchboard_sent_bytes_total", &[], traffic.bytes_out);
    for (kind, count) in telemetry.push_refusals() {
        out.counter("switchboard_push_refusals_total", &[("kind", kind)], count);
    }
    let slow = telemetry
        .slow_consumer_closes
        .load(std::sync::atomic::Ordering::Relaxed);
    out.counter("switchboard_slow_consumer_closes_total", &[], slow);
    for link in &now.links {
        let labels = [("peer", link.peer.as_str())];
        out.gauge("switchboard_peer_up", &labels, f64::from(u8::from(link.up)));
        out.counter(
            "switchboard_peer_sent_bytes_total",
            &labels,
            link.bytes_sent,
        );
        out.counter(
            "switchboard_peer_received_bytes_total",
            &labels,
            link.bytes_received,
        );
        out.counter(
            "switchboard_peer_reconnects_total",
            &labels,
            link.reconnects,
        );
    }
    recorder.handle().render()
}

/// Sets the recorder's handles to the values read.
struct Out<'a>(&'a PrometheusRecorder);

impl Out<'_> {
    fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(key, value)| Label::new(*key, (*value).to_owned()))
            .collect();
        Key::from_parts(name, labels)
    }

    fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        self.0
            .register_gauge(&Self::key(name, labels), &METADATA)
            .set(value);
    }

    fn counter(&self, name: &'static str, labels: &[(&'static str, &str)], value: u64) {
        self.0
            .register_counter(&Self::key(name, labels), &METADATA)
            .absolute(value);
    }

    fn tally(&self, name: &'static str, label: &'static str, tally: &crate::telemetry::Tally) {
        for (value, count) in tally.snapshot() {
            self.counter(name, &[(label, &value)], count);
        }
    }
}
