//! `counter:counter:sys`: a counter per connection, written with typed channels.
//!
//! A client sends `{"op":"add","by":N}` or `{"op":"reset"}` and gets `{"count":N}` back.
//! Each connection counts on its own, in a handler task that lives as long as it does; a
//! frame that is not one of those gets an error frame and the count is kept.

use process_lib::typed::{self, Connection};
use process_lib::Address;
use serde::{Deserialize, Serialize};

/// The process id this process is installed under.
pub const ID: &str = "counter:counter:sys";

/// What a client sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum CounterIn {
    /// Add `by` (which may be negative).
    Add {
        /// How much.
        by: i64,
    },
    /// Back to zero.
    Reset,
}

/// What a client receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterOut {
    /// The connection's count.
    pub count: i64,
}

/// Runs the counter until the runtime stops it.
pub async fn run(_our: Address) -> anyhow::Result<()> {
    typed::serve(count).await?;
    Ok(())
}

/// One connection's handler.
async fn count(mut conn: Connection<CounterIn, CounterOut>) {
    let mut count: i64 = 0;
    while let Some(input) = conn.rx.recv().await {
        count = match input {
            CounterIn::Add { by } => count.saturating_add(by),
            CounterIn::Reset => 0,
        };
        if conn.tx.send(&CounterOut { count }).is_err() {
            break;
        }
    }
}
