//! `switchboard id`: prints the node's name, its public key and its net address, creating
//! the key pair on first use so it can be given to peers before the node first runs.

use std::path::PathBuf;

use crate::net::identity;

/// `switchboard id`: prints `node`, `public_key` and `net_address` lines.
pub fn id(home: PathBuf) -> anyhow::Result<()> {
    let config = super::settings(home.clone(), super::Layer::Flag, &Vec::new())?.config;
    let node = config.node;
    let identity = identity::load_or_create(&home)?;
    let net_address = config.net.bind.map_or_else(
        || "none (run with --net-bind ADDR)".to_owned(),
        |a| a.to_string(),
    );
    println!("node: {node}");
    println!("public_key: {}", identity.public());
    println!("net_address: {net_address}");
    Ok(())
}
