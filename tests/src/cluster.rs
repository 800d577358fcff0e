//! Clustered nodes in one test: a NATS server of the test's own, a shared token secret, and
//! instances of one node started one by one, each with `peer:test:sys` and its [`Driver`].

use std::path::Path;

use gateway::config::ClusterConfig;

use crate::nats::NatsServer;
use crate::remote::{self, Driver};
use crate::{TestNode, WsClient};

/// The one node every instance is part of.
pub const NODE: &str = "cluster.os";

/// One instance of [`NODE`].
#[derive(Debug)]
pub struct Instance {
    /// The running instance.
    pub node: TestNode,
    /// Its `peer:test:sys`.
    pub driver: Driver,
}

/// A NATS server, a shared secret, and instances of [`NODE`].
#[derive(Debug)]
pub struct Cluster {
    /// The NATS server.
    pub nats: NatsServer,
    /// The instances, in the order they started.
    pub instances: Vec<Instance>,
    /// The token secret every instance signs with.
    pub secret_file: std::path::PathBuf,
    _secret: tempfile::TempDir,
}

/// Starts an instance of [`NODE`] on `nats`, signing tokens with the secret in `secret`.
pub async fn instance(nats: &NatsServer, secret: &Path) -> Instance {
    let (mut config, home) = TestNode::config();
    config.node = NODE.to_owned();
    config.cluster = Some(ClusterConfig::new(nats.url()));
    config.token_secret_file = Some(secret.to_owned());
    let (process, driver) = remote::spec();
    let node = TestNode::start_with(config, home, vec![process]).await;
    Instance { node, driver }
}

/// A NATS server and `count` instances started one by one.
pub async fn cluster(count: usize) -> Cluster {
    let nats = NatsServer::start().await;
    let secret = tempfile::tempdir().expect("a directory for the secret");
    let file = secret.path().join("token-secret");
    std::fs::write(&file, format!("{}\n", "5a".repeat(32))).expect("write the secret");
    let mut instances = Vec::new();
    for _ in 0..count {
        instances.push(instance(&nats, &file).await);
    }
    Cluster {
        nats,
        instances,
        secret_file: file,
        _secret: secret,
    }
}

impl Cluster {
    /// Starts one more instance on the same NATS server and secret.
    pub async fn add(&mut self) -> &Instance {
        let next = instance(&self.nats, &self.secret_file).await;
        self.instances.push(next);
        self.instances.last().expect("just pushed")
    }

    /// A client of instance `on`, registered to `process` with a token minted by the first.
    pub async fn client(&self, on: usize, process: &str) -> (WsClient, u32) {
        let token = self.instances[0].node.token();
        let mut client = WsClient::connect(&self.instances[on].node.url()).await;
        let id = client.register(&token, process).await;
        (client, id)
    }
}
