//! The tutorial's tests, in one binary: one link instead of one per file,
//! and one pool of test threads for all of them.
//!
//! Each file is about one thing; `cargo test shutdown::step3` runs step 3's
//! shutdown tests, `cargo test config` the settings.

#![cfg(unix)]

mod api;
mod config;
mod crash;
mod deploy;
mod shutdown;
mod visits;
