//! Starting and stopping a node: the library entry point that the binary and the tests share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::auth::Auth;
use crate::config::Config;
use crate::home::{self, HomeError};
use crate::kernel::{supervisor, ProcessSpec};
use crate::runtime::Runtime;

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The home directory or its secret is unusable.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The node name is not `[a-z0-9-.]+`.
    #[error("invalid node name {name:?}: {source}")]
    NodeName {
        /// The name given.
        name: String,
        /// Why it is invalid.
        source: process_lib::AddressParseError,
    },
    /// The listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The processes every node runs.
pub fn bundled_processes() -> Vec<ProcessSpec> {
    vec![
        ProcessSpec::new(
            processes::echo::ID
                .parse()
                .unwrap_or_else(|_| unreachable!("a valid literal")),
            processes::echo::run,
        ),
        ProcessSpec::new(
            processes::broadcast::ID
                .parse()
                .unwrap_or_else(|_| unreachable!("a valid literal")),
            processes::broadcast::run,
        ),
    ]
}

/// A node that is running.
#[derive(Debug)]
pub struct RunningNode {
    rt: Arc<Runtime>,
    local_addr: SocketAddr,
}

/// Starts a node with `processes`, listening on `config.bind`.
pub async fn start(config: Config, processes: Vec<ProcessSpec>) -> Result<RunningNode, StartError> {
    process_lib::address::validate_node_name(&config.node).map_err(|source| {
        StartError::NodeName {
            name: config.node.clone(),
            source,
        }
    })?;
    let secret = home::load_or_create_secret(&config.home)?;
    let auth = Auth::new(&config.node, &secret);
    let listener = TcpListener::bind(config.bind)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.bind,
        source,
    })?;
    let rt = Runtime::new(config, auth);
    for spec in processes {
        supervisor::spawn(&rt, spec);
    }
    rt.tasks
        .spawn(crate::server::accept_loop(rt.clone(), listener));
    tracing::info!(node = %rt.node, %local_addr, "node started");
    Ok(RunningNode { rt, local_addr })
}

impl RunningNode {
    /// Where the listener is bound (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://ADDR:PORT/`, the URL clients connect to.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/", self.local_addr)
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.rt.node
    }

    /// The token issuer of this node.
    pub fn auth(&self) -> &Auth {
        &self.rt.auth
    }

    /// A token for this node, valid for `ttl`.
    pub fn mint_token(&self, ttl: Duration) -> String {
        self.rt.auth.mint(ttl)
    }

    /// How many WebSocket channels are open.
    pub fn channel_count(&self) -> usize {
        self.rt.channels.len()
    }

    /// Resolves when the node is asked to shut down.
    pub async fn cancelled(&self) {
        self.rt.shutdown.cancelled().await;
    }

    /// Stops accepting, closes every channel with 1001, stops the processes, and waits
    /// (at most `close_timeout` and a little more) for every task to end.
    pub async fn shutdown(self) {
        self.rt.shutdown.cancel();
        self.rt.tasks.close();
        let limit = self.rt.config.close_timeout + Duration::from_secs(1);
        if tokio::time::timeout(limit, self.rt.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not end in time");
        }
    }
}
