//! Processes that exist to be tested against, each written only against `process_lib`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gateway::ProcessSpec;
use process_lib::{
    await_message, get_blob, http_server_id, send_ws_push, send_ws_push_frames, Address,
    HttpServerAction, HttpServerRequest, LazyLoadBlob, Request, WsMessageType,
};
use tokio::sync::mpsc;

fn id(s: &str) -> process_lib::ProcessId {
    s.parse().expect("valid process id")
}

/// An event a recorder saw: the request and its blob's bytes.
pub type Recorded = (HttpServerRequest, Option<Vec<u8>>);

/// `recorder:test:sys`: reports every event it receives on `events`. A text push
/// `push-to:N` answers on the same channel with the `Debug` form of
/// `send_ws_push(our, N, Text, "hello")`; `action-to:N` does the same through a
/// `WebSocketPush` request to http-server and answers with the response body.
pub fn recorder(events: mpsc::UnboundedSender<Recorded>) -> ProcessSpec {
    ProcessSpec::new(id("recorder:test:sys"), move |our: Address| {
        let events = events.clone();
        async move {
            loop {
                let message = await_message().await?;
                let Ok(request) = HttpServerRequest::from_json(message.body()) else {
                    continue;
                };
                let blob = get_blob().map(|b| b.bytes.to_vec());
                let _ = events.send((request.clone(), blob.clone()));
                let HttpServerRequest::WebSocketPush { channel_id, .. } = request else {
                    continue;
                };
                let text = String::from_utf8(blob.unwrap_or_default()).unwrap_or_default();
                let answer = if let Some(n) = text.strip_prefix("push-to:") {
                    let target: u32 = n.parse().unwrap_or(0);
                    let result = send_ws_push(
                        &our.node,
                        target,
                        WsMessageType::Text,
                        LazyLoadBlob::from_bytes("hello"),
                    );
                    format!("{result:?}")
                } else if let Some(n) = text.strip_prefix("action-to:") {
                    let action = HttpServerAction::WebSocketPush {
                        channel_id: n.parse().unwrap_or(0),
                        message_type: WsMessageType::Text,
                    };
                    let response = Request::to(Address::new(&our.node, http_server_id()))
                        .body(serde_json::to_vec(&action)?)
                        .blob_bytes("hello")
                        .send_and_await_response(5)
                        .await?;
                    String::from_utf8_lossy(response.body()).into_owned()
                } else {
                    continue;
                };
                let _ = send_ws_push(
                    &our.node,
                    channel_id,
                    WsMessageType::Text,
                    LazyLoadBlob::from_bytes(answer),
                );
            }
        }
    })
}

/// `crash:test:sys`: a push `panic` makes it panic; any other push is answered with
/// `instance N`, N counting starts (1 for the first).
pub fn crasher() -> ProcessSpec {
    let starts = Arc::new(AtomicUsize::new(0));
    ProcessSpec::new(id("crash:test:sys"), move |our: Address| {
        let instance = starts.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            loop {
                let message = await_message().await?;
                let Ok(HttpServerRequest::WebSocketPush { channel_id, .. }) =
                    serde_json::from_slice(message.body())
                else {
                    continue;
                };
                let blob = get_blob().unwrap_or_default();
                if blob.bytes.as_ref() == b"panic" {
                    panic!("asked to panic on channel {channel_id}");
                }
                let reply = LazyLoadBlob::from_bytes(format!("instance {instance}"));
                let _ = send_ws_push(&our.node, channel_id, WsMessageType::Text, reply);
            }
        }
    })
}

/// `flood:test:sys`: a push `flood` pushes 64 KiB binary frames to that channel until a
/// push fails (at most 100,000), then reports the error on `report`.
pub fn flooder(report: mpsc::UnboundedSender<process_lib::HttpServerError>) -> ProcessSpec {
    ProcessSpec::new(id("flood:test:sys"), move |our: Address| {
        let report = report.clone();
        async move {
            let chunk = LazyLoadBlob::from_bytes(vec![7u8; 64 * 1024]);
            loop {
                let message = await_message().await?;
                let Ok(HttpServerRequest::WebSocketPush { channel_id, .. }) =
                    serde_json::from_slice(message.body())
                else {
                    continue;
                };
                for _ in 0..100_000 {
                    if let Err(error) =
                        send_ws_push(&our.node, channel_id, WsMessageType::Binary, chunk.clone())
                    {
                        let _ = report.send(error);
                        break;
                    }
                }
            }
        }
    })
}

/// `sequence:test:sys`: a text push `N` is answered with N text frames `0`, `1`, … on the
/// same channel, each padded to 1 KiB with spaces, yielding every 50 frames so the socket
/// is sometimes idle and sometimes backed up while it pushes.
pub fn sequencer() -> ProcessSpec {
    ProcessSpec::new(id("sequence:test:sys"), |our: Address| async move {
        loop {
            let message = await_message().await?;
            let Ok(HttpServerRequest::WebSocketPush { channel_id, .. }) =
                serde_json::from_slice(message.body())
            else {
                continue;
            };
            let count: u32 = get_blob()
                .and_then(|b| std::str::from_utf8(&b.bytes).ok()?.trim().parse().ok())
                .unwrap_or(0);
            for i in 0..count {
                let frame = format!("{i:<1024}");
                send_ws_push(
                    &our.node,
                    channel_id,
                    WsMessageType::Text,
                    LazyLoadBlob::from_bytes(frame),
                )?;
                if i % 50 == 49 {
                    tokio::task::yield_now().await;
                }
            }
        }
    })
}

/// The frames `burst:test:sys` pushes for a burst of `count`: `"I of COUNT "` padded with
/// `x` to a length that varies with I (from a few bytes to past the 125 and 65,535 where
/// a frame's header grows).
pub fn burst_frame(i: usize, count: usize) -> String {
    let len = match (i, i % 3) {
        (2, _) => 70_000,
        (_, 0) => 3,
        (_, 1) => 200,
        _ => 1000 + i,
    };
    format!("{i} of {count} {}", "x".repeat(len))
}

/// `burst:test:sys`: a text push `N ID ID …` pushes the N frames [`burst_frame`] gives, in
/// one `send_ws_push_frames` call, to the channels listed; `bad ID ID …` pushes a burst
/// whose second blob is not UTF-8. Either way the sender is then told the `Debug` form of
/// the failures.
pub fn burster() -> ProcessSpec {
    ProcessSpec::new(id("burst:test:sys"), |our: Address| async move {
        loop {
            let message = await_message().await?;
            let Ok(HttpServerRequest::WebSocketPush { channel_id, .. }) =
                serde_json::from_slice(message.body())
            else {
                continue;
            };
            let text = get_blob()
                .and_then(|b| String::from_utf8(b.bytes.to_vec()).ok())
                .unwrap_or_default();
            let mut words = text.split_whitespace();
            let blobs: Vec<LazyLoadBlob> = match words.next() {
                Some("bad") => vec![
                    LazyLoadBlob::from_bytes("fine"),
                    LazyLoadBlob::from_bytes(vec![0xff, 0xfe]),
                ],
                Some(n) => {
                    let count: usize = n.parse().unwrap_or(0);
                    (0..count)
                        .map(|i| LazyLoadBlob::from_bytes(burst_frame(i, count)))
                        .collect()
                }
                None => continue,
            };
            let to: Vec<u32> = words.filter_map(|w| w.parse().ok()).collect();
            let failed = send_ws_push_frames(&our.node, &to, WsMessageType::Text, &blobs);
            let report = LazyLoadBlob::from_bytes(format!("failed: {failed:?}"));
            let _ = send_ws_push(&our.node, channel_id, WsMessageType::Text, report);
        }
    })
}

/// A process that never takes WebSockets: `quiet:test:sys`.
pub fn quiet() -> ProcessSpec {
    ProcessSpec::new(id("quiet:test:sys"), |_our: Address| async move {
        loop {
            await_message().await?;
        }
    })
    .accepts_websockets(false)
}

/// The seed's example handler, ported: a chat archive that keeps the set of open channels,
/// stores every message, broadcasts it, and answers `"History"` with the archive.
pub mod archive {
    use super::*;
    use serde::{Deserialize, Serialize};

    /// What clients send.
    #[derive(Debug, Serialize, Deserialize)]
    pub enum ChatRequest {
        /// Store and broadcast a message.
        Send {
            /// Who wrote it.
            author: String,
            /// What they wrote.
            content: String,
        },
        /// Ask for every stored message.
        History,
    }

    /// What clients receive.
    #[derive(Debug, Serialize, Deserialize)]
    pub enum ChatUpdate {
        /// A message someone sent.
        NewMessage {
            /// Who wrote it.
            author: String,
            /// What they wrote.
            content: String,
        },
        /// The archive, oldest first.
        History(Vec<(String, String)>),
    }

    /// Every message so far, as `(author, content)`.
    pub type MessageArchive = Vec<(String, String)>;

    /// `archive:test:sys`.
    pub fn spec() -> ProcessSpec {
        ProcessSpec::new(id("archive:test:sys"), run)
    }

    async fn run(our: Address) -> anyhow::Result<()> {
        let mut message_archive = MessageArchive::new();
        let mut channel_ids: HashSet<u32> = HashSet::new();
        loop {
            let message = await_message().await?;
            // A bad request is logged and dropped, never a reason to crash the archive.
            if let Err(error) = handle_http_server_request(
                &our,
                &mut message_archive,
                message.source(),
                message.body(),
                &mut channel_ids,
            ) {
                eprintln!("archive: dropped a request: {error}");
            }
        }
    }

    fn handle_http_server_request(
        our: &Address,
        message_archive: &mut MessageArchive,
        _source: &Address,
        body: &[u8],
        channel_ids: &mut HashSet<u32>,
    ) -> anyhow::Result<()> {
        let Ok(server_request) = HttpServerRequest::from_json(body) else {
            // Not for us: ignore, as the seed does.
            return Ok(());
        };
        match server_request {
            HttpServerRequest::WebSocketOpen { channel_id, .. } => {
                channel_ids.insert(channel_id);
            }
            HttpServerRequest::WebSocketPush { channel_id, .. } => {
                let Some(blob) = get_blob() else {
                    return Ok(());
                };
                handle_chat_request(our, message_archive, channel_id, channel_ids, &blob.bytes)?;
            }
            HttpServerRequest::WebSocketClose(channel_id) => {
                channel_ids.remove(&channel_id);
            }
            HttpServerRequest::Http(_) => {}
        }
        Ok(())
    }

    fn handle_chat_request(
        our: &Address,
        message_archive: &mut MessageArchive,
        our_channel_id: u32,
        channel_ids: &HashSet<u32>,
        bytes: &[u8],
    ) -> anyhow::Result<()> {
        let push = |channel_id: u32, update: &ChatUpdate| -> anyhow::Result<()> {
            let blob = LazyLoadBlob::new(Some("application/json"), serde_json::to_vec(update)?);
            send_ws_push(&our.node, channel_id, WsMessageType::Text, blob)?;
            Ok(())
        };
        match serde_json::from_slice::<ChatRequest>(bytes)? {
            ChatRequest::Send { author, content } => {
                message_archive.push((author.clone(), content.clone()));
                let update = ChatUpdate::NewMessage { author, content };
                for &channel_id in channel_ids {
                    push(channel_id, &update)?;
                }
            }
            ChatRequest::History => push(
                our_channel_id,
                &ChatUpdate::History(message_archive.clone()),
            )?,
        }
        Ok(())
    }
}

/// `chat:test:sys`: the real chat, with a crash trigger for tests of crash recovery: a frame
/// reading exactly [`CHAT_CRASH_WORD`] makes it panic.
pub fn crashable_chat() -> ProcessSpec {
    ProcessSpec::new(id("chat:test:sys"), |our: Address| {
        let options = processes::chat::Options {
            panic_on: Some(CHAT_CRASH_WORD.to_owned()),
        };
        processes::chat::run_with(our, options)
    })
}

/// The frame that makes `chat:test:sys` panic.
pub const CHAT_CRASH_WORD: &str = "crash the chat now (test)";

/// `typed:test:sys`: a typed-channel process. `{"say":"x"}` is answered `{"heard":"x"}`;
/// `"bye"` ends the connection's handler; `"panic"` makes the handler panic.
pub fn typed_echo() -> ProcessSpec {
    use process_lib::typed::{self, Connection};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum In {
        Say(String),
        Bye,
        Panic,
    }

    #[derive(Debug, Serialize)]
    struct Out {
        heard: String,
    }

    async fn handle(mut conn: Connection<In, Out>) {
        while let Some(input) = conn.rx.recv().await {
            match input {
                In::Say(text) => {
                    let _ = conn.tx.send(&Out { heard: text });
                }
                In::Bye => return,
                In::Panic => panic!("the handler was asked to panic"),
            }
        }
    }

    ProcessSpec::new(id("typed:test:sys"), |_our: Address| async move {
        typed::serve(handle).await?;
        Ok(())
    })
}
