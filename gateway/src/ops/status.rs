//! `GET /status` (a page for a person, `web/status.html`) and `GET /status.json`, which the
//! page polls: the node now, and a sample a second of connections and frames per second
//! over the last ten minutes, so the charts have a past as soon as the page opens.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;

use super::snapshot::{LinkStatus, ProcessStatus, Snapshot};
use crate::runtime::Runtime;

/// The page, self-contained: its script and styles are inline, and it loads nothing else.
pub const PAGE: &str = include_str!("../../../web/status.html");

/// How often the history takes a sample.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Samples kept: ten minutes' worth.
const KEPT: usize = 600;

/// One point of the charts.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// When, in milliseconds since the Unix epoch.
    pub t: u64,
    /// WebSocket connections held.
    pub connections: usize,
    /// Frames received and sent per second since the previous sample.
    pub frames_per_sec: f64,
}

/// The samples, oldest first, and what the next one is measured from.
#[derive(Debug, Default)]
pub struct History {
    inner: Mutex<HistoryInner>,
}

#[derive(Debug, Default)]
struct HistoryInner {
    samples: VecDeque<Sample>,
    /// Frames counted at the last sample, and when (uptime).
    last: Option<(u64, Duration)>,
}

impl History {
    /// Takes a sample of `now`.
    pub fn sample(&self, now: &Snapshot) {
        let frames = now.traffic.frames_in + now.traffic.frames_out;
        let mut inner = self.inner.lock();
        let frames_per_sec = match inner.last {
            Some((before, at)) if now.uptime > at => {
                frames.saturating_sub(before) as f64 / (now.uptime - at).as_secs_f64()
            }
            _ => 0.0,
        };
        inner.last = Some((frames, now.uptime));
        if inner.samples.len() == KEPT {
            inner.samples.pop_front();
        }
        inner.samples.push_back(Sample {
            t: unix_millis(),
            connections: now.connections,
            frames_per_sec,
        });
    }

    fn samples(&self) -> Vec<Sample> {
        self.inner.lock().samples.iter().copied().collect()
    }
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The body of `/status.json`.
#[derive(Debug, Serialize)]
pub struct Status {
    node: String,
    uptime_secs: f64,
    ready: bool,
    not_ready: Vec<String>,
    connections: usize,
    channels: usize,
    processes: Vec<ProcessStatus>,
    frames_received: u64,
    frames_sent: u64,
    frames_per_sec: f64,
    links: Vec<LinkStatus>,
    sample_interval_secs: u64,
    history: Vec<Sample>,
}

/// What `/status.json` says now.
pub fn status(rt: &Runtime, history: &History) -> Status {
    let now = Snapshot::take(rt);
    let history = history.samples();
    Status {
        node: rt.node.to_string(),
        uptime_secs: now.uptime.as_secs_f64(),
        ready: now.not_ready.is_empty(),
        channels: now.channels(),
        connections: now.connections,
        frames_received: now.traffic.frames_in,
        frames_sent: now.traffic.frames_out,
        frames_per_sec: history.last().map_or(0.0, |s| s.frames_per_sec),
        not_ready: now.not_ready,
        processes: now.processes,
        links: now.links,
        sample_interval_secs: SAMPLE_INTERVAL.as_secs(),
        history,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::traffic::TrafficSums;

    fn at(uptime_secs: u64, frames: u64) -> Snapshot {
        Snapshot {
            uptime: Duration::from_secs(uptime_secs),
            connections: 2,
            processes: Vec::new(),
            traffic: TrafficSums {
                frames_in: frames,
                ..TrafficSums::default()
            },
            links: Vec::new(),
            not_ready: Vec::new(),
        }
    }

    #[test]
    fn frames_per_second_is_the_rate_since_the_last_sample_and_ten_minutes_are_kept() {
        let history = History::default();
        history.sample(&at(1, 100));
        history.sample(&at(3, 300));
        let samples = history.samples();
        assert_eq!(samples[0].frames_per_sec, 0.0);
        assert_eq!(samples[1].frames_per_sec, 100.0);
        for second in 4..(4 + KEPT as u64) {
            history.sample(&at(second, 300));
        }
        assert_eq!(history.samples().len(), KEPT);
    }
}
