//! The `switchboard` binary: the command line with the bundled processes. A process
//! author's binary is these same lines with `.process(id, run)` for each of theirs.

fn main() -> std::process::ExitCode {
    gateway::Switchboard::new().bundled().main()
}
