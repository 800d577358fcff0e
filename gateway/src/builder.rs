//! [`Switchboard`]: the whole `switchboard` command line, with a process author's own
//! processes on the node it runs.
//!
//! A process author's `main` is a few lines, and the `switchboard` binary is the same lines
//! with the bundled processes:
//!
//! ```no_run
//! # mod greeter { pub async fn run(_: process_lib::Address) -> anyhow::Result<()> { Ok(()) } }
//! fn main() -> std::process::ExitCode {
//!     gateway::Switchboard::new()
//!         .bundled()
//!         .process("greeter:greeter:me", greeter::run)
//!         .main()
//! }
//! ```
//!
//! Every subcommand and flag then behaves as in `switchboard`; `run` starts the processes
//! registered here. Tests pass the same list to [`crate::node::start`] through
//! [`Switchboard::into_processes`], or call [`Switchboard::start`].

use std::future::Future;
use std::process::ExitCode;

use clap::Parser;
use process_lib::{Address, ProcessId, ProcessIdParseError};

use crate::cli::Cli;
use crate::config::Config;
use crate::kernel::ProcessSpec;
use crate::node::{RunningNode, StartError};

/// Why a list of processes cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ProcessListError {
    /// A process was registered under an id that is not `name:package:publisher`.
    #[error("invalid process id {id:?}: {source}")]
    InvalidId {
        /// The id as written.
        id: String,
        /// Why it does not parse.
        source: ProcessIdParseError,
    },
    /// Two processes were registered under one id.
    #[error("process {0} is registered twice")]
    Duplicate(ProcessId),
}

/// The processes a node will run, and the command line that runs it.
#[derive(Debug, Default)]
#[must_use = "a Switchboard does nothing until `.main()` or `.start(config)`"]
pub struct Switchboard {
    processes: Vec<ProcessSpec>,
    /// The first registration that was refused, reported when the list is used.
    refused: Option<ProcessListError>,
}

impl Switchboard {
    /// No processes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the processes the `switchboard` binary runs (`echo`, `chat`, `counter`,
    /// `broadcast`, all `…:sys`).
    pub fn bundled(self) -> Self {
        crate::node::bundled_processes()
            .into_iter()
            .fold(self, Self::spec)
    }

    /// Adds the process `id` (`name:package:publisher`), which runs `run(its own address)`
    /// and is restarted if it fails. A malformed id is reported when the list is used.
    pub fn process<F, Fut>(self, id: &str, run: F) -> Self
    where
        F: Fn(Address) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        match id.parse::<ProcessId>() {
            Ok(parsed) => self.spec(ProcessSpec::new(parsed, run)),
            Err(source) => self.refuse(ProcessListError::InvalidId {
                id: id.to_owned(),
                source,
            }),
        }
    }

    /// Adds a process described in full (for one that takes no WebSockets, say).
    pub fn spec(mut self, spec: ProcessSpec) -> Self {
        if self.processes.iter().any(|known| known.id == spec.id) {
            return self.refuse(ProcessListError::Duplicate(spec.id));
        }
        self.processes.push(spec);
        self
    }

    fn refuse(mut self, error: ProcessListError) -> Self {
        self.refused.get_or_insert(error);
        self
    }

    /// The processes, for [`crate::node::start`]; the first refused registration if any.
    pub fn into_processes(self) -> Result<Vec<ProcessSpec>, ProcessListError> {
        match self.refused {
            Some(error) => Err(error),
            None => Ok(self.processes),
        }
    }

    /// Starts a node with these processes (what `run` does, without the command line).
    pub async fn start(self, config: Config) -> Result<RunningNode, StartError> {
        crate::node::start(config, self.into_processes()?).await
    }

    /// Parses the command line and runs it, as the `switchboard` binary does: a refusal is
    /// one line on stderr and a non-zero exit (2 for bad arguments, 1 otherwise).
    pub fn main(self) -> ExitCode {
        let processes = match self.into_processes() {
            Ok(processes) => processes,
            Err(error) => {
                eprintln!("switchboard: {error}");
                return ExitCode::FAILURE;
            }
        };
        let cli = match Cli::try_parse() {
            Ok(cli) => cli,
            Err(error) => return argument_error(&error),
        };
        match crate::cli::logs::format(cli.log_format) {
            Ok(format) => crate::cli::logs::init(format),
            Err(error) => {
                eprintln!("switchboard: {error}");
                return ExitCode::from(2);
            }
        }
        match crate::cli::dispatch(cli, processes) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("switchboard: {error:#}");
                ExitCode::FAILURE
            }
        }
    }
}

/// Help and version print in full; any other argument error is one line, clap's first.
fn argument_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    let rendered = error.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    eprintln!("switchboard: {first} (see `switchboard --help`)");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn idle(_our: Address) -> anyhow::Result<()> {
        std::future::pending().await
    }

    fn ids(switchboard: Switchboard) -> Vec<String> {
        let processes = switchboard.into_processes().expect("a valid list");
        processes.iter().map(|spec| spec.id.to_string()).collect()
    }

    #[test]
    fn processes_are_kept_in_the_order_they_are_registered() {
        let list = Switchboard::new()
            .process("greeter:greeter:me", idle)
            .bundled();
        assert_eq!(
            ids(list),
            [
                "greeter:greeter:me",
                "echo:echo:sys",
                "chat:chat:sys",
                "counter:counter:sys",
                "broadcast:broadcast:sys"
            ]
        );
        assert!(ids(Switchboard::new()).is_empty());
    }

    #[test]
    fn a_malformed_id_is_refused_with_the_id_and_the_reason() {
        let error = Switchboard::new()
            .process("Greeter:greeter:me", idle)
            .process("also bad", idle)
            .into_processes()
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "invalid process id \"Greeter:greeter:me\": process id field `process_name` has \
             the character 'G', which is not allowed there"
        );
    }

    #[test]
    fn an_id_registered_twice_is_refused() {
        let error = Switchboard::new()
            .bundled()
            .process("echo:echo:sys", idle)
            .into_processes()
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "process echo:echo:sys is registered twice"
        );
    }
}
