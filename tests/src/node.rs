//! A node on 127.0.0.1:0 with a temporary home.

use std::time::Duration;

use gateway::{Config, ProcessSpec, RunningNode};

/// A running node and the home it owns; the home is deleted when this is dropped.
#[derive(Debug)]
pub struct TestNode {
    /// The node.
    pub node: RunningNode,
    /// The home directory.
    pub home: tempfile::TempDir,
}

impl TestNode {
    /// The default config for a test node: port 0, a fresh temp home.
    pub fn config() -> (Config, tempfile::TempDir) {
        let home = tempfile::tempdir().expect("temp home");
        let mut config = Config::new(home.path());
        config.bind = ([127, 0, 0, 1], 0).into();
        (config, home)
    }

    /// Starts a node with the bundled processes and `extra`.
    pub async fn start(extra: Vec<ProcessSpec>) -> Self {
        let (config, home) = Self::config();
        Self::start_with(config, home, extra).await
    }

    /// Starts a node with `config`, the bundled processes and `extra`.
    pub async fn start_with(
        config: Config,
        home: tempfile::TempDir,
        extra: Vec<ProcessSpec>,
    ) -> Self {
        // Logs when RUST_LOG asks for them; a second init in the same binary is a no-op.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let mut processes = gateway::bundled_processes();
        processes.extend(extra);
        let node = gateway::start(config, processes)
            .await
            .expect("node starts");
        Self { node, home }
    }

    /// Shuts the node down (every client gets 1001) and starts a new one on the same home
    /// and the same address, with the bundled processes and `extra`: a node restart.
    pub async fn restart(self, extra: Vec<ProcessSpec>) -> Self {
        let addr = self.node.local_addr();
        self.restart_at(addr, extra).await
    }

    /// Shuts the node down and starts it again on the same home at `addr` (port 0 for any):
    /// the node moved to another address, as when one of its instances goes away and another
    /// serves the same home.
    pub async fn restart_at(self, addr: std::net::SocketAddr, extra: Vec<ProcessSpec>) -> Self {
        let Self { node, home } = self;
        node.shutdown().await;
        let mut config = Config::new(home.path());
        config.bind = addr;
        Self::start_with(config, home, extra).await
    }

    /// A loopback address with a port nothing listens on now (bound and let go), for a node
    /// a client must be told about before it starts.
    pub fn unused_addr() -> std::net::SocketAddr {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
    }

    /// `ws://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        self.node.ws_url()
    }

    /// Sets the node password (only its hash is stored).
    pub fn set_password(&self, password: &str) {
        gateway::password::store(self.home.path(), password).expect("store the password");
    }

    /// The listener's address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.node.local_addr()
    }

    /// A valid token for an hour.
    pub fn token(&self) -> String {
        self.node.mint_token(Duration::from_secs(3600))
    }

    /// A client registered to `process`, with its channel id.
    pub async fn register(&self, process: &str) -> (crate::WsClient, u32) {
        let mut client = crate::WsClient::connect(&self.url()).await;
        let channel_id = client.register(&self.token(), process).await;
        (client, channel_id)
    }
}
