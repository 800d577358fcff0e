//! A Switchboard node with the greeter: the whole `switchboard` command line (`run`, `token`,
//! `passwd`, `chat`, `id`, …), whose `run` starts the processes registered here.

mod greeter;

/// The node's allocator, which gives memory back when a load has passed.
#[global_allocator]
static ALLOCATOR: gateway::allocator::Jemalloc = gateway::allocator::Jemalloc;

fn main() -> std::process::ExitCode {
    gateway::Switchboard::new()
        // The bundled processes (echo, chat, counter, broadcast); remove this line to run
        // only your own.
        .bundled()
        .process(greeter::ID, greeter::run)
        .main()
}
