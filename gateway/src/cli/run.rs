//! `switchboard run`: resolves the settings, starts the node, prints `listening on ws://…/`
//! (`wss://` with TLS), and on a signal drains it; a second signal stops it at once. A fresh
//! home gets a random password, printed once on stderr.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::file;
use crate::config::layers::{Flags, Layer};
use crate::home;

/// `switchboard run` with the home (from `home_from`), the setting flags given, and the
/// processes to start.
pub async fn run(
    home: PathBuf,
    home_from: Layer,
    flags: Flags,
    processes: Vec<crate::kernel::ProcessSpec>,
) -> anyhow::Result<()> {
    home::ensure_home(&home)?;
    let mut config = super::settings(home.clone(), home_from, &flags)?.config;
    config.commands = crate::config::commands::read(&home)?;
    remember(&home, &flags)?;
    raise_open_file_limit();
    // Watched from the start, so a signal sent as soon as the listening line shows is ours.
    let mut signals = Signals::watch()?;
    let node = crate::node::start(config, processes).await?;
    // Only once the node runs, so a failed start says one thing and loses no password.
    if let Some(generated) = crate::password::ensure(&home)? {
        // Shown once, on stderr: stdout's first line belongs to scripts.
        eprintln!(
            "switchboard: this node had no password; its login password is: {generated}\n\
             switchboard: it is shown only now; change it with `switchboard passwd --home {}`",
            home.display()
        );
    }
    println!("listening on {}", node.ws_url());
    if let Some(addr) = node.net_addr() {
        println!("net listening on {addr}");
    }
    if let Some(addr) = node.metrics_addr() {
        println!("metrics listening on http://{addr}/metrics");
    }
    use std::io::Write;
    std::io::stdout().flush().ok();
    signals.next().await;
    tracing::info!("signal received; draining (a second signal stops at once)");
    tokio::select! {
        report = node.drain() => {
            tracing::info!(?report, "stopped");
            Ok(())
        }
        () = signals.next() => {
            anyhow::bail!("a second signal came while draining: stopped at once")
        }
    }
}

/// Settings a flag gives that the home keeps for later runs and the other commands: the
/// node's name, the token lifetime, and the allowed origins (added to those it has).
fn remember(home: &Path, flags: &Flags) -> anyhow::Result<()> {
    let path = file::path(home);
    let text = file::read(&path)?.unwrap_or_default();
    let (entries, _) = file::entries(&path, &text);
    let in_file = |key: &str| entries.iter().find(|e| e.key == key).map(|e| &e.value);
    for (setting, values) in flags {
        let Some(last) = values.last() else { continue };
        let value: toml_edit::Value = match setting.key {
            "node" => {
                if in_file("node").and_then(toml::Value::as_str) == Some(last.as_str()) {
                    continue;
                }
                last.as_str().into()
            }
            "token_ttl_secs" => {
                let secs: i64 = last.trim().parse().context("--token-ttl")?;
                if in_file("token_ttl_secs").and_then(toml::Value::as_integer) == Some(secs) {
                    continue;
                }
                secs.into()
            }
            "allow_origins" => {
                let mut origins: Vec<String> = in_file("allow_origins")
                    .and_then(toml::Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let before = origins.len();
                for origin in values.iter().map(|o| crate::config::normalize_origin(o)) {
                    if !origins.contains(&origin) {
                        origins.push(origin);
                    }
                }
                if origins.len() == before {
                    continue;
                }
                origins.iter().collect::<toml_edit::Array>().into()
            }
            _ => continue,
        };
        file::remember(&path, setting.key, value).context("cannot remember the settings")?;
    }
    Ok(())
}

/// Every connection is a descriptor: lift the soft open-file limit to the hard one, so the
/// node holds as many connections as the machine lets one process have.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
}

/// SIGTERM and SIGINT, either of which asks the node to stop.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn watch() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
        })
    }

    /// Resolves at the next SIGTERM or SIGINT.
    async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
