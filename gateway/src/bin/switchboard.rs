//! The `switchboard` binary: parse the command line, set up logging, hand over to the library.

use clap::Parser;
use gateway::cli::Cli;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) {
                let _ = error.print();
                std::process::exit(0);
            }
            // One line: clap's first line, without its "error: " prefix.
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("switchboard: {first} (see `switchboard --help`)");
            std::process::exit(2);
        }
    };
    match gateway::cli::logs::format(cli.log_format) {
        Ok(format) => gateway::cli::logs::init(format),
        Err(error) => {
            eprintln!("switchboard: {error}");
            std::process::exit(2);
        }
    }
    if let Err(error) = gateway::cli::dispatch(cli) {
        eprintln!("switchboard: {error:#}");
        std::process::exit(1);
    }
}
