//! The node's logs on stderr: `--log-format text` (the default; colored at a terminal) or
//! `json`, one JSON object a line, for log collectors. `RUST_LOG` picks what is logged
//! (default `info`).

use crate::config::layers::LOG_FORMAT_ENV;

/// How logs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// The format asked for: the flag's, else `SWITCHBOARD_LOG_FORMAT`'s, else text.
pub fn format(flag: Option<LogFormat>) -> Result<LogFormat, String> {
    if let Some(format) = flag {
        return Ok(format);
    }
    match std::env::var(LOG_FORMAT_ENV) {
        Ok(value) => clap::ValueEnum::from_str(&value, true).map_err(|_| {
            format!("environment variable {LOG_FORMAT_ENV}={value:?}: give text or json")
        }),
        Err(_) => Ok(LogFormat::Text),
    }
}

/// Installs the log subscriber for `format`, writing to stderr.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
}
