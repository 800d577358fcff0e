//! The memory allocator the node runs on: jemalloc, for memory that goes back.
//!
//! With glibc's malloc the node's resident memory only ever rose under a long mixed load:
//! glibc serves a block of 128 KiB or more from a mapping of its own and unmaps it when it
//! is freed, but each such free raises that threshold (up to 32 MiB), so once a large buffer
//! has come and gone (a slow reader's full queue, a 1 MiB message), the next ones come from
//! the heap, whose holes keep the high-water mark. In the ten-minute soak the node's RSS went
//! from 20.5 to 24.9 MiB in steps and never came back. jemalloc gives unused pages back to
//! the system after a few seconds: in the same soak RSS rose and fell between 14 and 18 MiB,
//! with no trend (`bench/findings.md`, "Soak").
//!
//! Its settings are fixed when it is built, by `JEMALLOC_SYS_WITH_MALLOC_CONF` in the
//! checkout's `.cargo/config.toml` (which `switchboard new` copies into the crates it makes):
//! a background thread gives freed memory back once it has been unused for 300 ms. With
//! jemalloc's defaults, memory freed by a burst (the handshakes of a thousand clients that
//! connect at once, say) stayed resident for good on a node that then went idle, since purging
//! happened only when the allocator next ran; at 10,000 idle connections that was about 160 B
//! of resident memory per connection (`bench/findings.md`, "Idle memory, fourth pass").
//!
//! A binary chooses its allocator: `switchboard`'s `main.rs`, and the crate `switchboard new`
//! writes, say
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: gateway::allocator::Jemalloc = gateway::allocator::Jemalloc;
//! ```

pub use tikv_jemallocator::Jemalloc;

#[cfg(test)]
mod tests {
    use tikv_jemalloc_ctl::{Access, AsName};

    #[test]
    fn the_allocator_is_built_to_give_freed_memory_back_soon() {
        let background: bool = b"opt.background_thread\0".name().read().expect("readable");
        let decay_ms: isize = b"opt.dirty_decay_ms\0".name().read().expect("readable");
        assert!(background, "built without a background purging thread");
        assert_eq!(decay_ms, 300, "dirty pages decay after {decay_ms} ms");
    }
}
