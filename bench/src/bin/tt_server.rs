//! The bare tokio-tungstenite baseline: the echo and broadcast servers a user would write
//! with tokio-tungstenite alone, with its default settings or with `--read-buffer BYTES`.
//! A socket on `/echo` gets every frame back; a socket on `/broadcast` is a subscriber, and
//! a frame from any subscriber goes to all of them. Prints `listening on ws://ADDR/` first.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

type Subscribers = Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Message>>>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut bind = "127.0.0.1:0".to_owned();
    let mut read_buffer: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => bind = args.next().unwrap_or(bind),
            "--read-buffer" => read_buffer = args.next().and_then(|v| v.parse().ok()),
            other => anyhow::bail!("unknown argument {other}; use --bind ADDR --read-buffer BYTES"),
        }
    }
    let config = read_buffer.map(|size| WebSocketConfig::default().read_buffer_size(size));
    let listener = TcpListener::bind(&bind).await?;
    println!("listening on ws://{}/", listener.local_addr()?);
    std::io::stdout().flush()?;
    let subscribers = Subscribers::default();
    let next_id = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let subscribers = subscribers.clone();
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let _ = serve(stream, config, subscribers, id).await;
        });
    }
}

async fn serve(
    stream: TcpStream,
    config: Option<WebSocketConfig>,
    subscribers: Subscribers,
    id: u64,
) -> anyhow::Result<()> {
    let mut path = String::new();
    let callback = |request: &Request, response: Response| {
        path = request.uri().path().to_owned();
        Ok(response)
    };
    let ws = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, config).await?;
    if path == "/broadcast" {
        broadcast(ws, subscribers, id).await
    } else {
        echo(ws).await
    }
}

async fn echo(mut ws: tokio_tungstenite::WebSocketStream<TcpStream>) -> anyhow::Result<()> {
    while let Some(message) = ws.next().await {
        let message = message?;
        if message.is_text() || message.is_binary() {
            ws.send(message).await?;
        }
    }
    Ok(())
}

async fn broadcast(
    ws: tokio_tungstenite::WebSocketStream<TcpStream>,
    subscribers: Subscribers,
    id: u64,
) -> anyhow::Result<()> {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    subscribers
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .insert(id, tx);
    // The usual shape (warp's chat example): forward the queue into the sink, which flushes
    // whenever the queue is momentarily empty.
    let writer = tokio::spawn(async move {
        let queue = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(Ok);
        let _ = queue.forward(&mut sink).await;
    });
    while let Some(Ok(message)) = stream.next().await {
        if message.is_text() || message.is_binary() {
            let peers = subscribers
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?;
            for peer in peers.values() {
                let _ = peer.send(message.clone());
            }
        }
    }
    subscribers
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .remove(&id);
    writer.abort();
    Ok(())
}
