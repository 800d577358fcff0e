//! Processes outside the node, for tests: a process function run over the process socket
//! with `process_lib::remote::run` in the test's own runtime, and `ask:test:*`, which
//! answers requests and asks its peer on a client's behalf, inside or outside the node.

use std::future::Future;

use process_lib::remote::RemoteError;
use process_lib::{
    await_message, get_blob, send_ws_push, Address, HttpServerRequest, LazyLoadBlob, Message,
    ProcessId, Request, Response, WsMessageType,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::TestNode;

/// A program outside the node, running one process over the process socket.
#[derive(Debug)]
pub struct Outside {
    /// The call to `remote::run`; abort it to drop the connection.
    pub task: JoinHandle<Result<anyhow::Result<()>, RemoteError>>,
}

impl Outside {
    /// Connects as `id` with a fresh process token and runs `process` once registered;
    /// returns when the node has registered it.
    pub async fn start<F, Fut>(node: &TestNode, id: &str, process: F) -> Self
    where
        F: FnOnce(Address) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let id: ProcessId = id.parse().expect("process id");
        let token = node
            .node
            .mint_process_token(&id, std::time::Duration::from_secs(3600));
        let url = process_socket_url(node);
        let (started, registered) = oneshot::channel();
        let task = tokio::spawn(async move {
            process_lib::remote::run(&url, &token, move |our| {
                let _ = started.send(());
                process(our)
            })
            .await
        });
        match tokio::time::timeout(crate::WAIT, registered).await {
            Ok(Ok(())) => Self { task },
            other => panic!(
                "the outside process did not start: {other:?}, {:?}",
                task.await
            ),
        }
    }

    /// Drops the connection (the program "crashes") and waits until it is gone.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// `ws://ADDR/process`.
pub fn process_socket_url(node: &TestNode) -> String {
    format!("ws://{}/process", node.addr())
}

/// `ask`: a request is answered `<our process> got <body>` with its blob echoed back; a
/// client's text frame `T` is sent to `peer` as a request with blob `b`, and the client gets
/// `answer: <body> + <blob>`, or `failed: <error>`.
pub async fn ask(our: Address, peer: Address) -> anyhow::Result<()> {
    loop {
        let message = match await_message().await {
            Ok(message) => message,
            // A request of ours that bounced: its sender already heard it.
            Err(_) => continue,
        };
        match message {
            Message::Request {
                expects_response: Some(_),
                body,
                ..
            } => {
                let body = format!("{} got {}", our.process, String::from_utf8_lossy(&body));
                let mut response = Response::new().body(body);
                if let Some(blob) = get_blob() {
                    response = response.blob(blob);
                }
                response.send()?;
            }
            Message::Request { body, .. } => {
                let Ok(HttpServerRequest::WebSocketPush { channel_id, .. }) =
                    HttpServerRequest::from_json(&body)
                else {
                    continue;
                };
                let text = String::from_utf8(get_blob().unwrap_or_default().bytes.to_vec())?;
                let asked = Request::to(&peer)
                    .body(text)
                    .blob_bytes("b")
                    .send_and_await_response(5)
                    .await;
                let reply = match asked {
                    Ok(answer) => format!(
                        "answer: {} + {}",
                        String::from_utf8_lossy(answer.body()),
                        String::from_utf8_lossy(&answer.blob().cloned().unwrap_or_default().bytes)
                    ),
                    Err(error) => format!("failed: {error}"),
                };
                let _ = send_ws_push(
                    &our.node,
                    channel_id,
                    WsMessageType::Text,
                    LazyLoadBlob::from_bytes(reply),
                );
            }
            Message::Response { .. } => {}
        }
    }
}
