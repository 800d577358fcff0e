//! The Autobahn|Testsuite run from a test: `scripts/autobahn` against a node, its per-case
//! results read back, and a loopback proxy that lets wstest (which knows nothing of register
//! frames) reach a process through the register flow.
//!
//! The proxy is honest about framing: it forwards wstest's upgrade request, sends one register
//! frame of its own once the upgrade is answered, takes the node's `{"channel_id":N}` frame
//! away, and from then on copies bytes both ways untouched. wstest sees exactly what the node
//! sends after registration, frame for frame.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

/// How one case ended, as wstest judged it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseResult {
    /// `OK`, `NON-STRICT`, `INFORMATIONAL`, `UNIMPLEMENTED` or `FAILED`.
    pub behavior: String,
    /// How the closing handshake went, judged the same way.
    #[serde(rename = "behaviorClose")]
    pub behavior_close: String,
    /// The close code the node sent, if it sent one.
    #[serde(rename = "remoteCloseCode")]
    pub remote_close_code: Option<u16>,
}

impl CaseResult {
    /// Whether `other` is the same outcome. `OK` and `NON-STRICT` count as one: in the cases
    /// that fail the connection, whether the echo of a frame sent just before the bad one
    /// comes back before the close (OK) or not (NON-STRICT) is a race the suite allows.
    pub fn matches(&self, other: &Self) -> bool {
        fn class(behavior: &str) -> &str {
            match behavior {
                "NON-STRICT" => "OK",
                other => other,
            }
        }
        class(&self.behavior) == class(&other.behavior)
            && self.behavior_close == other.behavior_close
            && self.remote_close_code == other.remote_close_code
    }
}

/// Every case's result, by case id (`"1.1.1"`), in the suite's order.
pub type Results = BTreeMap<CaseId, CaseResult>;

/// A case id that sorts as the suite numbers cases (`2.10` after `2.9`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CaseId(Vec<u32>);

impl TryFrom<String> for CaseId {
    type Error = std::num::ParseIntError;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        id.split('.')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl From<CaseId> for String {
    fn from(id: CaseId) -> Self {
        id.to_string()
    }
}

impl std::fmt::Display for CaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u32::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// How a run of `scripts/autobahn` ended.
#[derive(Debug)]
pub enum Run {
    /// wstest ran; every case's result.
    Done(Results),
    /// Python 2.7 is not on this machine; what the script said.
    NoPython(String),
}

/// Runs `scripts/autobahn URL --out DIR` (cases 1–7 and 10) and reads its report.
pub async fn run_suite(url: &str, out: &Path) -> Run {
    let script = repo_root().join("scripts/autobahn");
    let output = tokio::process::Command::new(&script)
        .arg(url)
        .arg("--out")
        .arg(out)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{} does not start: {e}", script.display()));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.code() == Some(3) {
        return Run::NoPython(stderr);
    }
    assert!(
        output.status.success(),
        "scripts/autobahn failed ({}):\n{stderr}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
    );
    Run::Done(read_report(&out.join("index.json")))
}

/// The cases of the one agent in wstest's `index.json`.
pub fn read_report(index: &Path) -> Results {
    let text = std::fs::read_to_string(index)
        .unwrap_or_else(|e| panic!("no report at {}: {e}", index.display()));
    let agents: BTreeMap<String, Results> =
        serde_json::from_str(&text).expect("wstest's index.json parses");
    agents
        .into_values()
        .next()
        .expect("the report has the agent's cases")
}

/// The results committed at `path` (relative to the repository).
pub fn read_expected(path: &str) -> Results {
    let path = repo_root().join(path);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no expected results at {}: {e}", path.display()));
    serde_json::from_str(&text).expect("expected results parse")
}

/// Writes `results` to `path` (relative to the repository), one case a line.
pub fn write_expected(path: &str, results: &Results) {
    let mut text = String::from("{\n");
    let lines: Vec<String> = results
        .iter()
        .map(|(id, result)| {
            let result = serde_json::to_string(result).unwrap_or_default();
            format!("  \"{id}\": {result}")
        })
        .collect();
    text.push_str(&lines.join(",\n"));
    text.push_str("\n}\n");
    std::fs::write(repo_root().join(path), text).expect("write the expected results");
}

/// The cases whose result differs from the expected one, as lines for a failure message.
pub fn differences(expected: &Results, actual: &Results) -> Vec<String> {
    let mut ids: Vec<&CaseId> = expected.keys().chain(actual.keys()).collect();
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| match (expected.get(id), actual.get(id)) {
            (Some(e), Some(a)) if e.matches(a) => None,
            (e, a) => Some(format!("{id}: expected {e:?}, got {a:?}")),
        })
        .collect()
}

/// How many cases ended each way (`"OK" → 190`, …), judged by `behavior`.
pub fn tally(results: &Results) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for result in results.values() {
        *counts.entry(result.behavior.as_str()).or_insert(0) += 1;
    }
    counts
}

/// Where the report of run `name` goes: `target/autobahn/reports/NAME` in the repository.
pub fn report_dir(name: &str) -> PathBuf {
    repo_root().join("target/autobahn/reports").join(name)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the repository")
        .to_owned()
}

/// A loopback proxy that registers each connection to `process` with `token`, then gets out
/// of the way. Dropped, it stops accepting.
#[derive(Debug)]
pub struct RegisterProxy {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl RegisterProxy {
    /// Starts a proxy on 127.0.0.1:0 in front of the node at `node`.
    pub async fn start(node: SocketAddr, token: &str, process: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let register = serde_json::json!({
            "auth_token": token,
            "target_process": process,
            "encrypted": false,
        })
        .to_string();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let register = register.clone();
                tokio::spawn(async move {
                    if let Err(error) = proxy(client, node, &register).await {
                        eprintln!("register proxy: {error}");
                    }
                });
            }
        });
        Self { addr, task }
    }

    /// `ws://ADDR/`, the URL to give wstest.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }
}

impl Drop for RegisterProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn proxy(mut client: TcpStream, node: SocketAddr, register: &str) -> std::io::Result<()> {
    let mut upstream = TcpStream::connect(node).await?;
    let (request, early) = read_head(&mut client).await?;
    upstream.write_all(&request).await?;
    upstream.write_all(&early).await?;
    let (response, mut rest) = read_head(&mut upstream).await?;
    if response.starts_with(b"HTTP/1.1 101") {
        upstream.write_all(&register_frame(register)).await?;
        let announce = read_frame(&mut upstream, &mut rest).await?;
        if !announce.starts_with(b"{\"channel_id\":") {
            return Err(std::io::Error::other(format!(
                "registering failed: {}",
                String::from_utf8_lossy(&announce)
            )));
        }
    }
    client.write_all(&response).await?;
    client.write_all(&rest).await?;
    // Either side may end the connection abruptly (a failed connection is dropped): not
    // the proxy's business.
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    Ok(())
}

/// The register frame as a client sends it: text, masked.
fn register_frame(register: &str) -> Vec<u8> {
    let mut frame = Frame::message(register.to_owned(), OpCode::Data(Data::Text), true);
    frame.header_mut().mask = Some(*b"sbrg");
    let mut bytes = Vec::new();
    frame.format(&mut bytes).expect("format into a Vec");
    bytes
}

/// Reads up to the end of an HTTP head; returns the head and the bytes read past it.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() > 64 * 1024 || stream.read_buf(&mut buf).await? == 0 {
            return Err(std::io::Error::other("no complete HTTP head"));
        }
    }
}

/// Reads one unfragmented frame from `stream`, `buf` holding what was already read; returns
/// its payload and leaves in `buf` what follows it.
async fn read_frame(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
    loop {
        let mut cursor = Cursor::new(&buf[..]);
        let parsed = FrameHeader::parse(&mut cursor).map_err(std::io::Error::other)?;
        if let Some((_, len)) = parsed {
            let start = cursor.position() as usize;
            let end = start + len as usize;
            if buf.len() >= end {
                let payload = buf[start..end].to_vec();
                buf.drain(..end);
                return Ok(payload);
            }
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(std::io::Error::other("the node closed before announcing"));
        }
    }
}
