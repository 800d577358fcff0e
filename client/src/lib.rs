//! # switchboard_client
//!
//! The Rust client library for Switchboard (being written).
