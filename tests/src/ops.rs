//! The internal port from outside: a node that serves it, GETs on it, a scrape read by
//! name and labels, Debian's `promtool` to check one, and a real Prometheus server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::web::{send, RawRequest, RawResponse};
use crate::{TestNode, WAIT};

/// Starts a node with the bundled processes and `extra` that serves the internal port on
/// 127.0.0.1:0; returns it with that port's address.
pub async fn start(extra: Vec<gateway::ProcessSpec>) -> (TestNode, SocketAddr) {
    let (mut config, home) = TestNode::config();
    config.metrics_bind = Some(([127, 0, 0, 1], 0).into());
    let node = TestNode::start_with(config, home, extra).await;
    let addr = node.node.metrics_addr().expect("the internal port is on");
    (node, addr)
}

/// `GET path` on the internal port.
pub async fn get(addr: SocketAddr, path: &str) -> RawResponse {
    send(addr, &RawRequest::new("GET", path)).await
}

/// One scrape of `/metrics`, read by metric name and labels.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The text as served.
    pub text: String,
    samples: BTreeMap<String, f64>,
}

impl Scrape {
    /// Scrapes `addr`'s `/metrics`; the answer must be a 200 in the text format.
    pub async fn take(addr: SocketAddr) -> Self {
        let response = get(addr, "/metrics").await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        Self::parse(response.text())
    }

    /// Reads the text format's sample lines: `name{label="value",…} number`.
    pub fn parse(text: String) -> Self {
        let mut samples = BTreeMap::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("not a sample line: {line}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                other => other
                    .parse()
                    .unwrap_or_else(|e| panic!("{e}: not a number in {line}")),
            };
            samples.insert(normalize(series), value);
        }
        Self { text, samples }
    }

    /// The value of `name` with exactly `labels`, if served.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples.get(&series(name, labels)).copied()
    }

    /// The value of `name` with `labels`; the test fails if it is not served.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or_else(|| {
            panic!(
                "{} is not in the scrape:\n{}",
                series(name, labels),
                self.text
            )
        })
    }
}

/// `name{a="1",b="2"}` with the labels sorted, `name` alone without labels.
fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    labels.sort();
    if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", labels.join(","))
    }
}

fn normalize(series: &str) -> String {
    match series.split_once('{') {
        None => series.to_owned(),
        Some((name, rest)) => {
            let inner = rest.trim_end_matches('}');
            let mut labels: Vec<&str> = inner.split(',').filter(|l| !l.is_empty()).collect();
            labels.sort_unstable();
            format!("{name}{{{}}}", labels.join(","))
        }
    }
}

fn installed(binary: &str) -> PathBuf {
    let path = PathBuf::from("/usr/bin").join(binary);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup (it installs Debian's prometheus package)",
        path.display()
    );
    path
}

/// Runs `promtool check metrics` on `text`: its exit code and what it said.
pub async fn promtool_check(text: &str) -> (Option<i32>, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(installed("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("promtool runs");
    let mut stdin = child.stdin.take().expect("promtool's stdin");
    stdin
        .write_all(text.as_bytes())
        .await
        .expect("write to promtool");
    drop(stdin);
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("promtool finishes in time")
        .expect("promtool's output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), said)
}

/// A Prometheus server scraping one target every second, with its data in a temporary
/// directory; killed when dropped.
#[derive(Debug)]
pub struct Prometheus {
    child: tokio::process::Child,
    /// Where its HTTP API listens.
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Debian's `prometheus` scraping `target` (host:port) every second, and waits
    /// until it is ready.
    pub async fn start(target: SocketAddr) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: switchboard\n    scrape_interval: 1s\n    \
             scrape_timeout: 1s\n    static_configs:\n      - targets: ['{target}']\n"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write the config");
        let addr = free_port();
        let child = tokio::process::Command::new(installed("prometheus"))
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("prometheus runs");
        let server = Self {
            child,
            addr,
            _dir: dir,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + WAIT * 3;
        loop {
            if let Ok(stream) = tokio::net::TcpStream::connect(self.addr).await {
                let response = crate::web::exchange(
                    stream,
                    &self.addr.to_string(),
                    &RawRequest::new("GET", "/-/ready"),
                )
                .await;
                if response.status == 200 {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "prometheus did not get ready in time"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs an instant query through the HTTP API and returns its `data.result`.
    pub async fn query(&self, promql: &str) -> Vec<Value> {
        let path = format!("/api/v1/query?query={}", url_encode(promql));
        let response = send(self.addr, &RawRequest::new("GET", &path)).await;
        assert_eq!(response.status, 200, "{}", response.text());
        let body = response.json();
        assert_eq!(body["status"], "success", "{body}");
        body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Queries until the result is not empty (the first scrapes came in); fails the test
    /// if that takes longer than three times [`WAIT`] or the server exits.
    pub async fn query_until(&mut self, promql: &str) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + WAIT * 3;
        loop {
            let result = self.query(promql).await;
            if !result.is_empty() {
                return result;
            }
            assert!(self.running(), "prometheus exited");
            assert!(
                tokio::time::Instant::now() < deadline,
                "prometheus never stored {promql}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Whether the server still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// A loopback address with a port nothing listens on (it was free a moment ago).
pub fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address")
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Scrapes `addr` until `condition` holds for a scrape, and returns that scrape; fails the
/// test after [`WAIT`]. For counters, which no event announces.
pub async fn scrape_until(
    addr: SocketAddr,
    what: &str,
    condition: impl Fn(&Scrape) -> bool,
) -> Scrape {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let scrape = Scrape::take(addr).await;
        if condition(&scrape) {
            return scrape;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not in time: {what}\n{}",
            scrape.text
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// GETs `path` on `addr` until `condition` holds for the response, and returns it; fails
/// the test after [`WAIT`].
pub async fn get_until(
    addr: SocketAddr,
    path: &str,
    what: &str,
    condition: impl Fn(&RawResponse) -> bool,
) -> RawResponse {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let response = get(addr, path).await;
        if condition(&response) {
            return response;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not in time: {what} (last: {} {})",
            response.status,
            response.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
