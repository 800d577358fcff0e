//! Mixed: a broadcast and echo clients on one server at once. The fan-out scenario's
//! subscribers and publisher keep its window full while the echo scenario's clients make
//! their round trips, so the report shows what a busy broadcast does to everyone else's
//! latency on the same server, and what the other traffic takes from the broadcast.
//!
//! The echo clients run on a thread and runtime of their own, beside the subscribers' (the
//! generator's core is shared between the two threads by the kernel). On one runtime they
//! would wait behind the subscribers: a server that delivers a broadcast round to all its
//! subscribers at once wakes a thousand of them together, and the echo clients' replies would
//! then sit behind the generator's own work on that round, so their latency would measure
//! the generator rather than the server.
//!
//! The publisher publishes at a fixed rate (within the fan-out's window) through the echo
//! clients' warm-up and counted time; the echo clients count only while it does. A fixed
//! rate gives every server, and the generator's subscribers, the same broadcast to carry,
//! so the echo figures compare: with the window alone a faster server would take on more
//! broadcast, and the generator's core would have less time for the echo clients.

use std::time::Duration;

use super::echo::{EchoParams, EchoResult, EchoSession};
use super::fanout::{FanoutParams, FanoutResult, FanoutSession};
use crate::client::{Endpoint, Target};

/// What was measured: each side's result, taken together.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct MixedResult {
    /// The echo clients' round trips while the broadcast ran.
    pub echo: EchoResult,
    /// The broadcast's deliveries while the echo clients ran.
    pub fanout: FanoutResult,
}

/// A broadcast's subscribers and publisher, and echo clients, connected to one server.
#[derive(Debug)]
pub struct MixedSession {
    echo: EchoSession,
    fanout: FanoutSession,
    rate: f64,
    /// Where the echo clients run; stopped when the session is dropped.
    _clients: ClientThread,
}

/// A current-thread runtime on a thread of its own, running until dropped.
#[derive(Debug)]
struct ClientThread {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ClientThread {
    async fn start() -> anyhow::Result<Self> {
        let (ready, handle) = tokio::sync::oneshot::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("echo-clients".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match runtime {
                    Ok(runtime) => {
                        let _ = ready.send(Ok(runtime.handle().clone()));
                        runtime.block_on(async {
                            let _ = stopped.await;
                        });
                    }
                    Err(error) => {
                        let _ = ready.send(Err(error));
                    }
                }
            })?;
        let handle = handle.await??;
        Ok(Self {
            handle,
            stop: Some(stop),
        })
    }
}

impl Drop for ClientThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl MixedSession {
    /// Connects the broadcast (`fanout`, published at `rate` frames a second) and the echo
    /// clients (`echo`) to `target`, whose process is `server_pid`.
    pub async fn open(
        target: &Target,
        server_pid: u32,
        echo: EchoParams,
        fanout: FanoutParams,
        rate: f64,
    ) -> anyhow::Result<Self> {
        let subscribers_at = std::slice::from_ref(target);
        let fanout = FanoutSession::open(
            subscribers_at,
            target,
            &[server_pid],
            Endpoint::Broadcast,
            fanout,
        )
        .await?;
        let clients = ClientThread::start().await?;
        let on_its_thread = target.clone();
        let echo = clients
            .handle
            .spawn(async move { EchoSession::open(&on_its_thread, server_pid, echo).await })
            .await??;
        Ok(Self {
            echo,
            fanout,
            rate,
            _clients: clients,
        })
    }

    /// Publishes for `warm + count` while the echo clients warm up for `warm` and are
    /// counted for `count`.
    pub async fn slice(&mut self, warm: Duration, count: Duration) -> anyhow::Result<()> {
        let (published, ()) = tokio::join!(
            self.fanout.slice_at(warm + count, Some(self.rate)),
            self.echo.slice(warm, count)
        );
        published
    }

    /// Stops both and sums up every slice.
    pub async fn finish(self) -> anyhow::Result<MixedResult> {
        Ok(MixedResult {
            fanout: self.fanout.finish().await?,
            echo: self.echo.finish().await?,
        })
    }
}
