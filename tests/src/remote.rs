//! `peer:test:sys`, a process for node-to-node tests. It answers a request `ping` with
//! `pong from NODE`, and does what the test asks through its [`Driver`]: requests to other
//! nodes' processes, and pushes to channels on other nodes, with or without asking for the
//! http-server's answer. It uses only `process_lib`, as a federating process would.

use std::sync::Arc;

use gateway::ProcessSpec;
use process_lib::{
    await_message, http_server_id, send_ws_push, Address, HttpServerAction, HttpServerError,
    LazyLoadBlob, Message, ProcessId, Request, RequestError, Response, WsMessageType,
};
use tokio::sync::{mpsc, oneshot, Mutex};

/// The process's id, the same on every node.
pub const ID: &str = "peer:test:sys";

/// What the test asks the process to do.
#[derive(Debug)]
enum Command {
    Request {
        to: String,
        body: String,
    },
    Push {
        node: String,
        channel_id: u32,
        text: String,
    },
    PushMany {
        node: String,
        channel_ids: Vec<u32>,
        text: String,
    },
    PushAsking {
        node: String,
        channel_id: u32,
        text: String,
    },
    Peers,
    Siblings,
    SiblingRequest {
        instance: u8,
        body: String,
        timeout: std::time::Duration,
    },
    SiblingPublish {
        body: String,
    },
    Heard,
    Shared(String),
    Flood {
        to: String,
        blob_len: usize,
        max: usize,
    },
}

type Job = (Command, oneshot::Sender<String>);

/// The test's handle on one node's `peer:test:sys`.
#[derive(Debug, Clone)]
pub struct Driver {
    jobs: mpsc::UnboundedSender<Job>,
}

/// The process spec and the driver for it.
pub fn spec() -> (ProcessSpec, Driver) {
    let (jobs, rx) = mpsc::unbounded_channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    let id: ProcessId = ID.parse().expect("valid id");
    let spec = ProcessSpec::new(id, move |our: Address| run(our, rx.clone()));
    (spec, Driver { jobs })
}

async fn run(our: Address, jobs: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>) -> anyhow::Result<()> {
    // Without a driver (the test dropped it) the process still answers pings.
    let mut driven = true;
    // What siblings published to this process, in order.
    let mut heard: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            message = await_message() => {
                let Ok(message) = message else { continue };
                let sibling = process_lib::siblings::is_from_sibling(&message);
                match message {
                    Message::Request { body, expects_response: Some(_), .. } if body == b"ping" => {
                        Response::new().body(format!("pong from {}", our.node)).send()?;
                    }
                    Message::Request { body, expects_response: Some(_), .. }
                        if sibling && body != b"never answer" =>
                    {
                        let body = String::from_utf8_lossy(&body).to_uppercase();
                        Response::new().body(body).send()?;
                    }
                    Message::Request { body, expects_response: None, .. } if sibling => {
                        heard.push(String::from_utf8_lossy(&body).into_owned());
                    }
                    _ => {}
                }
            }
            job = async { jobs.lock().await.recv().await }, if driven => {
                let Some((command, reply)) = job else {
                    driven = false;
                    continue;
                };
                let answer = match command {
                    Command::Heard => heard.join(","),
                    command => perform(command).await,
                };
                let _ = reply.send(answer);
            }
        }
    }
}

async fn perform(command: Command) -> String {
    match command {
        Command::Flood { to, blob_len, max } => {
            let blob = LazyLoadBlob::from_bytes(vec![7u8; blob_len]);
            for sent in 0..max {
                let request = Request::to(to.as_str()).body("flood").blob(blob.clone());
                if let Err(error) = request.send() {
                    return match error {
                        RequestError::Send(error) => format!("{:?} after {sent}", error.kind),
                        other => format!("Failed({other})"),
                    };
                }
            }
            format!("none refused in {max}")
        }
        Command::Heard => String::new(),
        Command::Siblings => format!("{:?}", process_lib::siblings::list()),
        Command::SiblingRequest {
            instance,
            body,
            timeout,
        } => {
            let sibling = process_lib::siblings::Sibling { instance };
            match process_lib::siblings::request(sibling, body, None, timeout).await {
                Ok(reply) => format!("Ok({})", String::from_utf8_lossy(&reply.body)),
                Err(error) => format!("Err({error})"),
            }
        }
        Command::SiblingPublish { body } => process_lib::siblings::publish(body, None).to_string(),
        Command::Shared(script) => shared(&script).await,
        Command::Peers => match process_lib::net::peers(5).await {
            Ok(peers) => format!("{peers:?}"),
            Err(error) => format!("Failed({error})"),
        },
        Command::Request { to, body } => {
            match Request::to(to).body(body).send_and_await_response(5).await {
                Ok(answer) => format!("Ok({})", String::from_utf8_lossy(answer.body())),
                Err(RequestError::Send(error)) => format!("Err({:?})", error.kind),
                Err(other) => format!("Failed({other})"),
            }
        }
        Command::Push {
            node,
            channel_id,
            text,
        } => {
            let result = send_ws_push(
                &node,
                channel_id,
                WsMessageType::Text,
                LazyLoadBlob::from_bytes(text),
            );
            format!("{result:?}")
        }
        Command::PushMany {
            node,
            channel_ids,
            text,
        } => {
            let failed = process_lib::send_ws_push_many(
                &node,
                &channel_ids,
                WsMessageType::Text,
                LazyLoadBlob::from_bytes(text),
            );
            format!("{failed:?}")
        }
        Command::PushAsking {
            node,
            channel_id,
            text,
        } => {
            let action = HttpServerAction::WebSocketPush {
                channel_id,
                message_type: WsMessageType::Text,
            };
            let target = Address {
                node: node.into(),
                process: http_server_id(),
            };
            let request = Request::to(target)
                .body(serde_json::to_vec(&action).unwrap_or_default())
                .blob_bytes(text);
            match request.send_and_await_response(5).await {
                Ok(answer) => String::from_utf8_lossy(answer.body()).into_owned(),
                Err(RequestError::Send(error)) => format!("Err({:?})", error.kind),
                Err(other) => format!("Failed({other})"),
            }
        }
    }
}

impl Driver {
    async fn ask(&self, command: Command) -> String {
        let (reply, answer) = oneshot::channel();
        self.jobs.send((command, reply)).expect("process alive");
        tokio::time::timeout(crate::WAIT, answer)
            .await
            .expect("the process answers in time")
            .expect("the process answers")
    }

    /// Sends `body` to `to` and waits (5 s) for the answer: `Ok(BODY)` or `Err(KIND)`.
    pub async fn request(&self, to: &str, body: &str) -> String {
        self.ask(Command::Request {
            to: to.to_owned(),
            body: body.to_owned(),
        })
        .await
    }

    /// Sends requests with a `blob_len`-byte blob to `to`, without waiting, until one is
    /// refused (at most `max`): `KIND after N`.
    pub async fn flood(&self, to: &str, blob_len: usize, max: usize) -> String {
        self.ask(Command::Flood {
            to: to.to_owned(),
            blob_len,
            max,
        })
        .await
    }

    /// `process_lib::net::peers`, as `Debug` of the list.
    pub async fn peers(&self) -> String {
        self.ask(Command::Peers).await
    }

    /// `process_lib::siblings::list()`, as `Debug` of the list.
    pub async fn siblings(&self) -> String {
        self.ask(Command::Siblings).await
    }

    /// `siblings::request` to `instance`: `Ok(BODY)` (a sibling answers with the body in
    /// capitals; `never answer` it never answers) or `Err(SENTENCE)`.
    pub async fn sibling_request(
        &self,
        instance: u8,
        body: &str,
        timeout: std::time::Duration,
    ) -> String {
        self.ask(Command::SiblingRequest {
            instance,
            body: body.to_owned(),
            timeout,
        })
        .await
    }

    /// `siblings::publish(body)`: how many siblings it was sent to.
    pub async fn sibling_publish(&self, body: &str) -> String {
        self.ask(Command::SiblingPublish {
            body: body.to_owned(),
        })
        .await
    }

    /// One operation on the process's shared log and map: `append A B …` (the numbers),
    /// `read FIRST LAST`, `follow AFTER N` (the next N records), `create KEY VALUE` (whether
    /// it was set; entries live 1 s), `entries` (sorted `KEY=VALUE`).
    pub async fn shared(&self, script: &str) -> String {
        self.ask(Command::Shared(script.to_owned())).await
    }

    /// What siblings published to this process so far, joined with `,`.
    pub async fn heard(&self) -> String {
        self.ask(Command::Heard).await
    }

    /// `send_ws_push(node, channel_id, Text, text)`, as `Debug` of its result.
    pub async fn push(&self, node: &str, channel_id: u32, text: &str) -> String {
        self.ask(Command::Push {
            node: node.to_owned(),
            channel_id,
            text: text.to_owned(),
        })
        .await
    }

    /// `send_ws_push_many(node, channel_ids, Text, text)`, as `Debug` of the failures.
    pub async fn push_many(&self, node: &str, channel_ids: &[u32], text: &str) -> String {
        self.ask(Command::PushMany {
            node: node.to_owned(),
            channel_ids: channel_ids.to_vec(),
            text: text.to_owned(),
        })
        .await
    }

    /// A `WebSocketPush` request to `node`'s http-server that waits for its answer: the
    /// answer's body (`{"Ok":null}`, `{"Err":"…"}`) or `Err(KIND)` when none came.
    pub async fn push_asking(&self, node: &str, channel_id: u32, text: &str) -> String {
        self.ask(Command::PushAsking {
            node: node.to_owned(),
            channel_id,
            text: text.to_owned(),
        })
        .await
    }
}

/// Runs one line of [`Driver::shared`] against the log `test` and the map `test` (entries
/// live 1 s).
async fn shared(script: &str) -> String {
    use process_lib::shared;
    let words: Vec<&str> = script.split(' ').collect();
    let (Some(log), Some(map)) = (
        shared::log("test"),
        shared::map("test", std::time::Duration::from_secs(1)),
    ) else {
        return "not clustered".to_owned();
    };
    let text = |data: &[u8]| String::from_utf8_lossy(data).into_owned();
    let number = |i: usize| {
        words
            .get(i)
            .and_then(|w| w.parse::<u64>().ok())
            .unwrap_or(0)
    };
    match words.first().copied() {
        Some("append") => {
            let records = words[1..].iter().map(|w| w.to_string().into()).collect();
            format!("{:?}", log.append(records).await)
        }
        Some("read") => match log.read(number(1), number(2)).await {
            Ok(records) => format!(
                "{:?}",
                records
                    .iter()
                    .map(|r| (r.seq, text(&r.data)))
                    .collect::<Vec<_>>()
            ),
            Err(error) => format!("Err({error})"),
        },
        Some("follow") => {
            let mut records = log.follow(number(1));
            let mut seen = Vec::new();
            for _ in 0..number(2) {
                match records.recv().await {
                    Some(r) => seen.push((r.seq, text(&r.data))),
                    None => break,
                }
            }
            format!("{seen:?}")
        }
        Some("create") => format!("{:?}", map.create(words[1], words[2].to_owned()).await),
        Some("entries") => match map.entries().await {
            Ok(mut entries) => {
                entries.sort();
                format!(
                    "{:?}",
                    entries
                        .iter()
                        .map(|(k, v)| format!("{k}={}", text(v)))
                        .collect::<Vec<_>>()
                )
            }
            Err(error) => format!("Err({error})"),
        },
        _ => format!("unknown script {script:?}"),
    }
}

/// `Ok(())` as [`Driver::push`] reports it.
pub const PUSHED: &str = "Ok(())";

/// What [`Driver::push`] reports for `error`.
pub fn push_error(error: HttpServerError) -> String {
    format!("{:?}", Err::<(), _>(error))
}

/// `relay:test:sys`, federation in miniature: what a client on one node sends reaches the
/// clients of the same process on every linked peer. A frame from a local client is pushed
/// to the local channels and sent, as a request with the text as blob, to `relay:test:sys`
/// on each linked peer (from `process_lib::net::peers`); such a request from a peer's relay
/// is pushed to the local channels.
pub fn relay() -> ProcessSpec {
    use std::collections::BTreeSet;

    use process_lib::{get_blob, HttpServerRequest};

    let id: ProcessId = "relay:test:sys".parse().expect("valid id");
    ProcessSpec::new(id, |our: Address| async move {
        let mut channels = BTreeSet::new();
        loop {
            let Ok(message) = await_message().await else {
                continue;
            };
            let source = message.source().clone();
            let Some(blob) = get_blob() else {
                if let Ok(event) = HttpServerRequest::from_json(message.body()) {
                    match event {
                        HttpServerRequest::WebSocketOpen { channel_id, .. } => {
                            channels.insert(channel_id);
                        }
                        HttpServerRequest::WebSocketClose(channel_id) => {
                            channels.remove(&channel_id);
                        }
                        _ => {}
                    }
                }
                continue;
            };
            let from_peer = source.node != our.node && source.process == our.process;
            let from_client = source.process == http_server_id();
            if !(from_peer || from_client) {
                continue;
            }
            for &channel_id in &channels {
                let _ = send_ws_push(&our.node, channel_id, WsMessageType::Text, blob.clone());
            }
            if from_client {
                for peer in process_lib::net::peers(5).await? {
                    if peer.linked {
                        let to = Address {
                            node: peer.name.into(),
                            process: our.process.clone(),
                        };
                        // A peer that went down meanwhile: its users miss this one.
                        let _ = Request::to(to).body("relay").blob(blob.clone()).send();
                    }
                }
            }
        }
    })
}
