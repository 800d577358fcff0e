//! The loopback ceiling: how many writes a second one core can hand to N loopback TCP
//! sockets when it does nothing else. A plain program (`switchboard-bench loopback-writer`,
//! pinned to the servers' core) writes one ready-made chunk to each socket in turn, with
//! blocking writes and no WebSocket, no parsing and no scheduling between them; the
//! generator's readers take the bytes on the other core.
//!
//! It is the floor under every server's fan-out on this machine: a server that delivers to
//! N sockets makes at least one write per socket per batch, and each write costs at least
//! what it costs here. The chat runs it with N members and a chunk of W message events
//! (W says in flight), the most one write can carry there, so `writes/s × W / N` bounds the
//! messages/s any server could show to a room of N on this machine.

use std::io::{BufRead, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::AsyncReadExt;

use crate::procfs::{CpuMark, CpuUse};
use crate::servers::{self, Programs};

/// What to run.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct CeilingParams {
    /// Sockets written to in turn.
    pub connections: usize,
    /// Message events each write carries.
    pub events_per_write: usize,
    /// How long the writer writes.
    pub duration: Duration,
}

/// What was measured.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct CeilingResult {
    /// Writes finished per second.
    pub writes_per_s: f64,
    /// Bytes of each write.
    pub chunk_bytes: usize,
    /// Bytes the readers took, against bytes written (must match).
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Each side's CPU while writing.
    pub cpu: CpuUse,
}

impl CeilingResult {
    /// The messages/s a room of `members` could see with `window` says in flight if every
    /// write carried a whole window of message events and did nothing else.
    pub fn room_bound(&self, members: usize, window: u64) -> f64 {
        self.writes_per_s * window as f64 / members.max(1) as f64
    }
}

/// One chat `message` event as a server frame, the size the chat scenario's members take.
fn message_frame() -> Vec<u8> {
    let event =
        br#"{"type":"message","id":100000,"ts":1765000000000,"from":"user1000","text":"10000 1000000000000"}"#;
    let mut frame = vec![0x81, event.len() as u8];
    frame.extend_from_slice(event);
    frame
}

/// The writer's side, run as its own process: listens on a loopback port (announced as
/// `listening on ADDR`), takes `connections` sockets, writes `chunk`s of `events` message
/// frames to each in turn for `secs`, and says `wrote WRITES in NANOS` before it exits.
pub fn write_in_turn(connections: usize, events: usize, secs: f64) -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let mut sockets: Vec<TcpStream> = Vec::with_capacity(connections);
    while sockets.len() < connections {
        let (socket, _) = listener.accept()?;
        socket.set_nodelay(true)?;
        sockets.push(socket);
    }
    // Start only when told: the generator marks its CPU clock first.
    let mut go = String::new();
    std::io::stdin().lock().read_line(&mut go)?;
    let chunk = message_frame().repeat(events.max(1));
    let until = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut writes = 0u64;
    while start.elapsed() < until {
        for socket in &mut sockets {
            socket.write_all(&chunk)?;
        }
        writes += sockets.len() as u64;
    }
    println!("wrote {writes} in {}", start.elapsed().as_nanos());
    std::io::stdout().flush()?;
    // Closing the sockets ends the readers.
    drop(sockets);
    std::io::stdin().lock().read_line(&mut go)?;
    Ok(())
}

/// Runs the writer pinned to `core` and its readers here: writes/s, and both sides' CPU.
pub async fn run(
    programs: &Programs,
    core: Option<usize>,
    params: CeilingParams,
) -> anyhow::Result<CeilingResult> {
    let args = [
        "loopback-writer".to_owned(),
        "--connections".to_owned(),
        params.connections.to_string(),
        "--events".to_owned(),
        params.events_per_write.to_string(),
        "--secs".to_owned(),
        params.duration.as_secs_f64().to_string(),
    ];
    let mut writer = servers::launch_with_stdin(&programs.bench, &args, core)?;
    let addr: std::net::SocketAddr = writer
        .announced("listening on ", Duration::from_secs(20))
        .await?
        .parse()
        .context("the loopback writer's address")?;
    let read = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::with_capacity(params.connections);
    for _ in 0..params.connections {
        let mut socket = tokio::net::TcpStream::connect(addr).await?;
        let read = read.clone();
        readers.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 64 * 1024];
            while let Ok(n @ 1..) = socket.read(&mut buffer).await {
                read.fetch_add(n as u64, Ordering::Relaxed);
            }
        }));
    }
    let start = CpuMark::now(writer.pid);
    writer.say("go").await?;
    let wrote = writer
        .announced("wrote ", params.duration + Duration::from_secs(20))
        .await?;
    let stop = CpuMark::now(writer.pid);
    let (writes, nanos) = wrote
        .split_once(" in ")
        .and_then(|(w, n)| Some((w.parse::<u64>().ok()?, n.parse::<u64>().ok()?)))
        .with_context(|| format!("the loopback writer said {wrote:?}"))?;
    let wait = tokio::time::Instant::now() + Duration::from_secs(15);
    for reader in readers {
        let _ = tokio::time::timeout_at(wait, reader).await;
    }
    writer.say("done").await?;
    writer.wait().await;
    let chunk_bytes = message_frame().len() * params.events_per_write.max(1);
    Ok(CeilingResult {
        writes_per_s: writes as f64 / (nanos as f64 / 1e9).max(1e-9),
        chunk_bytes,
        bytes_read: read.load(Ordering::Relaxed),
        bytes_written: writes * chunk_bytes as u64,
        cpu: start.until(&stop),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_frame_is_one_unmasked_text_frame() {
        let frame = message_frame();
        assert_eq!(frame[0], 0x81, "final text frame");
        assert_eq!(frame[1] as usize, frame.len() - 2, "short length, no mask");
        assert!(frame[2..].starts_with(br#"{"type":"message","id":"#));
    }

    #[test]
    fn the_room_bound_is_a_window_per_write() {
        let result = CeilingResult {
            writes_per_s: 160_000.0,
            ..Default::default()
        };
        assert_eq!(result.room_bound(1_000, 16), 2_560.0);
    }
}
