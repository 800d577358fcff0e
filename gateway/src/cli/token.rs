//! `switchboard token`: prints a token for the home's node, or with `--process ID` a
//! process token for the process socket.

use std::path::PathBuf;
use std::time::Duration;

/// `switchboard token`: prints a token for the home's node.
pub fn token(
    home: PathBuf,
    ttl: u64,
    process: Option<process_lib::ProcessId>,
) -> anyhow::Result<()> {
    if !home.is_dir() {
        anyhow::bail!(
            "no node home at {}: run `switchboard run --home {}` first, or pass --home",
            home.display(),
            home.display()
        );
    }
    let node = super::node_name(&home)?;
    let secret = super::node_secret(&home)?;
    let auth = crate::auth::Auth::new(&node, &secret);
    let ttl = Duration::from_secs(ttl);
    let token = match process {
        Some(process) => auth.mint_process(&process, ttl),
        None => auth.mint(ttl),
    };
    println!("{token}");
    Ok(())
}
