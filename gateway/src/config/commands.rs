//! The programs a node runs for you: the `[[process]]` tables of `<home>/config.toml`.
//!
//! ```toml
//! [[process]]
//! id = "echo:echo:ext"
//! command = ["python3", "sdk/python/examples/echo.py"]
//! env = { PYTHONPATH = "sdk/python" }   # optional, added to the node's environment
//! cwd = "/srv/echo"                       # optional, default: where the node was started
//! restart = "on-failure"                  # "always" | "on-failure" (default) | "never"
//! stop_timeout_secs = 5                   # optional: SIGTERM, then SIGKILL after this
//! ```
//!
//! Read on their own, beside the node's other settings, by [`read`]; the supervisor that
//! runs them is `crate::commands`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use process_lib::ProcessId;
use serde::Deserialize;

/// How long a program has after SIGTERM before it gets SIGKILL, when the entry says nothing.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// One `[[process]]` table: a program the node starts as process `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandConfig {
    /// The process id the program acts as.
    pub id: ProcessId,
    /// The program and its arguments; the program is looked up on `PATH`.
    pub command: Vec<String>,
    /// Variables added to the node's environment (after the `SWITCHBOARD_*` ones, so they
    /// may replace them).
    pub env: BTreeMap<String, String>,
    /// The working directory; the node's own when `None`.
    pub cwd: Option<PathBuf>,
    /// When the program is started again after it ends.
    pub restart: Restart,
    /// How long the program has to end after SIGTERM before it is killed.
    pub stop_timeout: Duration,
}

/// When a program that ended is started again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// Whatever its exit status.
    Always,
    /// When it exits non-zero, dies of a signal, or cannot be started.
    #[default]
    OnFailure,
    /// Never: it runs once.
    Never,
}

impl Restart {
    /// Whether a run that ended this way is followed by another.
    pub fn again(self, succeeded: bool) -> bool {
        match self {
            Self::Always => true,
            Self::OnFailure => !succeeded,
            Self::Never => false,
        }
    }
}

/// A `[[process]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: ProcessId,
    command: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    cwd: Option<PathBuf>,
    #[serde(default)]
    restart: Restart,
    #[serde(default)]
    stop_timeout_secs: Option<u64>,
}

/// The part of the file this module reads; every other key is someone else's.
#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    process: Vec<toml::Value>,
}

/// What is wrong with the `[[process]]` tables.
#[derive(Debug, thiserror::Error)]
pub enum CommandsError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A table is not a process entry, or two entries share an id.
    #[error("{path}: [[process]] number {number}: {message}")]
    Entry {
        /// The file.
        path: PathBuf,
        /// The entry's place among the `[[process]]` tables, from 1.
        number: usize,
        /// What is wrong.
        message: String,
    },
    /// The file is not TOML.
    #[error("{path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
}

/// The `[[process]]` entries of `<home>/config.toml`; none when the file does not exist.
pub fn read(home: &Path) -> Result<Vec<CommandConfig>, CommandsError> {
    let path = home.join("config.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(CommandsError::Io { path, source }),
    }
}

/// The `[[process]]` entries of `text`, the contents of the file at `path`.
pub fn parse(path: &Path, text: &str) -> Result<Vec<CommandConfig>, CommandsError> {
    let file: File = toml::from_str(text).map_err(|e| CommandsError::Syntax {
        path: path.to_owned(),
        message: e.message().trim().to_owned(),
    })?;
    let mut seen = HashSet::new();
    let mut commands = Vec::with_capacity(file.process.len());
    for (index, value) in file.process.into_iter().enumerate() {
        let error = |message: String| CommandsError::Entry {
            path: path.to_owned(),
            number: index + 1,
            message,
        };
        let entry = Entry::deserialize(value).map_err(|e| error(e.message().to_owned()))?;
        if entry
            .command
            .first()
            .is_none_or(|program| program.is_empty())
        {
            return Err(error(
                "`command` must name a program: [\"program\", \"arg\", …]".into(),
            ));
        }
        if !seen.insert(entry.id.clone()) {
            return Err(error(format!("process {} is listed twice", entry.id)));
        }
        commands.push(CommandConfig {
            id: entry.id,
            command: entry.command,
            env: entry.env,
            cwd: entry.cwd,
            restart: entry.restart,
            stop_timeout: entry
                .stop_timeout_secs
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_STOP_TIMEOUT),
        });
    }
    Ok(commands)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Vec<CommandConfig>, CommandsError> {
        parse(Path::new("home/config.toml"), text)
    }

    #[test]
    fn a_full_entry_reads_with_every_field() {
        let commands = parse_str(
            r#"
            node = "local.os"
            [[peer]]
            name = "bob.os"
            [[process]]
            id = "echo:echo:ext"
            command = ["python3", "echo.py"]
            env = { PYTHONPATH = "sdk/python" }
            cwd = "/srv"
            restart = "always"
            stop_timeout_secs = 2
            "#,
        )
        .unwrap();
        assert_eq!(
            commands,
            vec![CommandConfig {
                id: "echo:echo:ext".parse().unwrap(),
                command: vec!["python3".into(), "echo.py".into()],
                env: BTreeMap::from([("PYTHONPATH".into(), "sdk/python".into())]),
                cwd: Some("/srv".into()),
                restart: Restart::Always,
                stop_timeout: Duration::from_secs(2),
            }]
        );
    }

    #[test]
    fn defaults_are_on_failure_and_five_seconds() {
        let commands =
            parse_str("[[process]]\nid = \"a:b:c\"\ncommand = [\"node\", \"a.mjs\"]\n").unwrap();
        assert_eq!(commands[0].restart, Restart::OnFailure);
        assert_eq!(commands[0].stop_timeout, DEFAULT_STOP_TIMEOUT);
        assert!(commands[0].env.is_empty());
        assert_eq!(parse_str("node = \"x.os\"\n").unwrap(), vec![]);
    }

    #[test]
    fn mistakes_are_named_with_the_entry() {
        let err = |text: &str| parse_str(text).unwrap_err().to_string();
        assert_eq!(
            err("[[process]]\nid = \"a:b:c\"\ncommand = []\n"),
            "home/config.toml: [[process]] number 1: `command` must name a program: [\"program\", \"arg\", …]"
        );
        let twice = err("[[process]]\nid = \"a:b:c\"\ncommand = [\"x\"]\n[[process]]\nid = \"a:b:c\"\ncommand = [\"y\"]\n");
        assert_eq!(
            twice,
            "home/config.toml: [[process]] number 2: process a:b:c is listed twice"
        );
        let restart =
            err("[[process]]\nid = \"a:b:c\"\ncommand = [\"x\"]\nrestart = \"sometimes\"\n");
        assert!(
            restart
                .starts_with("home/config.toml: [[process]] number 1: unknown variant `sometimes`"),
            "{restart}"
        );
        let unknown = err("[[process]]\nid = \"a:b:c\"\ncommand = [\"x\"]\nargs = []\n");
        assert!(unknown.contains("unknown field `args`"), "{unknown}");
        let bad_id = err("[[process]]\nid = \"Echo\"\ncommand = [\"x\"]\n");
        assert!(bad_id.contains("number 1"), "{bad_id}");
        assert!(err("[[process]\n").starts_with("home/config.toml is not valid TOML"));
    }

    #[test]
    fn restart_policies_decide_on_the_outcome() {
        assert!(Restart::Always.again(true) && Restart::Always.again(false));
        assert!(!Restart::OnFailure.again(true) && Restart::OnFailure.again(false));
        assert!(!Restart::Never.again(true) && !Restart::Never.again(false));
    }
}
