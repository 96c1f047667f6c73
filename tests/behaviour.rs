//! The tutorial's tests, in one binary: one link instead of one per file,
//! and one pool of test threads for all of them.
//!
//! Each file is about one thing, and a filter picks it:
//! `cargo test --test behaviour shutdown::step3` runs step 3's shutdown
//! tests, `cargo test --test behaviour config` the settings.

#![cfg(unix)]

mod api;
mod clients;
mod config;
mod crash;
mod deploy;
mod restart;
mod shutdown;
mod visits;
