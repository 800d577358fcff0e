//! `switchboard token`: prints a token for the home's node.

use std::path::PathBuf;
use std::time::Duration;

/// `switchboard token`: prints a token for the home's node.
pub fn token(home: PathBuf, ttl: u64) -> anyhow::Result<()> {
    if !home.is_dir() {
        anyhow::bail!(
            "no node home at {}: run `switchboard run --home {}` first, or pass --home",
            home.display(),
            home.display()
        );
    }
    let node = super::node_name(&home, None)?;
    let secret = super::node_secret(&home)?;
    let auth = crate::auth::Auth::new(&node, &secret);
    println!("{}", auth.mint(Duration::from_secs(ttl)));
    Ok(())
}
