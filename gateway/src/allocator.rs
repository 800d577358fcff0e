//! The memory allocator the node runs on: jemalloc, for memory that goes back.
//!
//! With glibc's malloc the node's resident memory only ever rose under a long mixed load:
//! glibc serves a block of 128 KiB or more from a mapping of its own and unmaps it when it
//! is freed, but each such free raises that threshold (up to 32 MiB), so once a large buffer
//! has come and gone (a slow reader's full queue, a 1 MiB message), the next ones come from
//! the heap, whose holes keep the high-water mark. In the ten-minute soak the node's RSS went
//! from 20.5 to 24.9 MiB in steps and never came back. jemalloc gives unused pages back to
//! the system after a few seconds: in the same soak RSS rose and fell between 14 and 18 MiB,
//! with no trend (`bench/findings.md`, "Soak"). An idle connection costs the same with either.
//!
//! A binary chooses its allocator: `switchboard`'s `main.rs`, and the crate `switchboard new`
//! writes, say
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: gateway::allocator::Jemalloc = gateway::allocator::Jemalloc;
//! ```

pub use tikv_jemallocator::Jemalloc;
