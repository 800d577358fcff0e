//! The `switchboard` binary: the command line with the bundled processes. A process
//! author's binary is these same lines with `.process(id, run)` for each of theirs.

/// The node's allocator, which gives memory back when a load has passed.
#[global_allocator]
static ALLOCATOR: gateway::allocator::Jemalloc = gateway::allocator::Jemalloc;

fn main() -> std::process::ExitCode {
    gateway::Switchboard::new().bundled().main()
}
