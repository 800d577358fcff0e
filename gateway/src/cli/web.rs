//! The `run` flags for browsers: allowed origins, TLS files, token lifetime, header deadline.
//! Origins, the token lifetime and the header deadline given here are remembered in the home's
//! `config.toml`, like the node name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::config::{Config, TlsFiles};
use crate::home;

/// Flags of `switchboard run` about browsers and TLS.
#[derive(Debug, Default, Clone, Args)]
pub struct WebArgs {
    /// An origin (e.g. https://app.example) whose pages may open WebSockets with the login
    /// cookie, besides the node's own. Repeat for more; remembered in the home.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// PEM certificate chain: serve https and wss (needs --tls-key).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Lifetime of login tokens, in seconds (default 7 days); remembered in the home.
    #[arg(long, value_name = "SECONDS")]
    pub token_ttl: Option<u64>,
    /// Seconds a client may take to send a request's headers before it is answered 408 and
    /// closed (default 10); remembered in the home.
    #[arg(long, value_name = "SECONDS")]
    pub header_timeout: Option<u64>,
}

fn valid_origin(origin: &str) -> bool {
    let Some((scheme, host)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !host.trim_end_matches('/').is_empty()
        && !host.trim_end_matches('/').contains('/')
}

impl WebArgs {
    /// Applies the flags and the home's remembered settings to `config`.
    pub fn apply(self, home_dir: &Path, config: &mut Config) -> anyhow::Result<()> {
        match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => config.tls = Some(TlsFiles { cert, key }),
            (None, None) => {}
            _ => anyhow::bail!("--tls-cert and --tls-key go together: give both, or neither"),
        }
        for origin in &self.allow_origin {
            if !valid_origin(origin) {
                anyhow::bail!(
                    "--allow-origin {origin:?} is not an origin: give scheme://host[:port], e.g. https://app.example"
                );
            }
        }
        if self.token_ttl == Some(0) {
            anyhow::bail!("--token-ttl must be at least 1 second");
        }
        if self.header_timeout == Some(0) {
            anyhow::bail!("--header-timeout must be at least 1 second");
        }
        let mut remembered = home::read_config(home_dir)?;
        let mut changed = false;
        for origin in self.allow_origin {
            let origin = crate::http::origin::normalize(&origin);
            if !remembered.allow_origins.contains(&origin) {
                remembered.allow_origins.push(origin);
                changed = true;
            }
        }
        if self.token_ttl.is_some() && self.token_ttl != remembered.token_ttl_secs {
            remembered.token_ttl_secs = self.token_ttl;
            changed = true;
        }
        if self.header_timeout.is_some() && self.header_timeout != remembered.header_timeout_secs {
            remembered.header_timeout_secs = self.header_timeout;
            changed = true;
        }
        if changed {
            home::write_config(home_dir, &remembered).context("cannot remember the settings")?;
        }
        config.allowed_origins = remembered.allow_origins;
        if let Some(secs) = remembered.token_ttl_secs {
            config.token_ttl = Duration::from_secs(secs);
        }
        if let Some(secs) = remembered.header_timeout_secs {
            config.header_read_timeout = Duration::from_secs(secs);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_deadline_is_set_remembered_and_never_zero() {
        let home = tempfile::tempdir().unwrap();
        let mut config = Config::new(home.path());
        let args = WebArgs {
            header_timeout: Some(3),
            ..WebArgs::default()
        };
        args.apply(home.path(), &mut config).unwrap();
        assert_eq!(config.header_read_timeout, Duration::from_secs(3));

        // A later run without the flag keeps it.
        let mut config = Config::new(home.path());
        WebArgs::default().apply(home.path(), &mut config).unwrap();
        assert_eq!(config.header_read_timeout, Duration::from_secs(3));
        assert_eq!(
            home::read_config(home.path()).unwrap().header_timeout_secs,
            Some(3)
        );

        let zero = WebArgs {
            header_timeout: Some(0),
            ..WebArgs::default()
        };
        let error = zero.apply(home.path(), &mut config).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--header-timeout must be at least 1 second"
        );
    }

    #[test]
    fn origins_are_scheme_and_host() {
        assert!(super::valid_origin("https://app.example"));
        assert!(super::valid_origin("http://127.0.0.1:3000/"));
        assert!(!super::valid_origin("app.example"));
        assert!(!super::valid_origin("https://app.example/path"));
        assert!(!super::valid_origin("ftp://app.example"));
    }
}
