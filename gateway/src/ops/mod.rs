//! The internal port (`run --metrics-bind ADDR`): what operators and their tools read,
//! apart from the public listener. `GET /metrics` (Prometheus text), `GET /health` (200
//! while the process runs), `GET /ready` (503 while draining or while a peer the node dials
//! is not linked), `GET /status` (a page for a person) and `GET /status.json`.
//!
//! It asks for no login: bind it where only operators reach it. It outlives the node's
//! shutdown signal, so `/ready` can say 503 through the whole drain; the node stops it last.
//!
//! ## Layout
//! - [`snapshot`]: the node's state at one moment.
//! - [`exposition`]: the `/metrics` text.
//! - [`status`]: `/status`, `/status.json`, and the history behind the charts.
//! - [`routes`]: the routes.

pub mod exposition;
pub mod routes;
pub mod snapshot;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::http::ConnInfo;
use crate::runtime::Runtime;

/// How often the recorder's sampled histograms are folded in when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// What the internal port's routes share.
#[derive(Debug)]
pub struct Ops {
    /// The node.
    pub rt: Arc<Runtime>,
    /// The samples behind the status page's charts.
    pub history: status::History,
}

/// The running internal port.
#[derive(Debug)]
pub struct OpsServer {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl OpsServer {
    /// Stops listening and waits (briefly) for the requests under way.
    pub async fn stop(self) {
        self.stop.cancel();
        if tokio::time::timeout(Duration::from_secs(2), self.task)
            .await
            .is_err()
        {
            tracing::warn!("the internal port did not stop in time");
        }
    }
}

/// Serves the internal port on `listener` until stopped.
pub fn start(rt: Arc<Runtime>, listener: TcpListener) -> OpsServer {
    let stop = CancellationToken::new();
    let ops = Arc::new(Ops {
        rt,
        history: status::History::default(),
    });
    let task = tokio::spawn({
        let stop = stop.clone();
        async move {
            let sampler = tokio::spawn(sample(ops.clone(), stop.clone()));
            accept_loop(ops, listener, stop).await;
            let _ = sampler.await;
        }
    });
    OpsServer { stop, task }
}

async fn accept_loop(ops: Arc<Ops>, listener: TcpListener, stop: CancellationToken) {
    let header_timeout = ops.rt.config.header_read_timeout;
    let service = warp::service(routes::routes(ops));
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "internal port: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let info = ConnInfo { peer, tls: false };
        connections.spawn(crate::server::serve_connection(
            stream,
            info,
            service.clone(),
            header_timeout,
            stop.clone(),
        ));
    }
    connections.close();
    connections.wait().await;
}

/// Samples the node for the charts every second, and keeps the recorder's histograms
/// folded in.
async fn sample(ops: Arc<Ops>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(status::SAMPLE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut upkeep = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => ops.history.sample(&snapshot::Snapshot::take(&ops.rt)),
            _ = upkeep.tick() => ops.rt.telemetry.recorder().handle().run_upkeep(),
            () = stop.cancelled() => return,
        }
    }
}
