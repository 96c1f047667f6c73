//! The tutorial's tests, in one binary: one link instead of one per file,
//! and one pool of test threads for all of them.
//!
//! Each file is about one thing, and a filter picks it:
//! `cargo test --test behaviour clients` runs the client tests,
//! `cargo test --test behaviour config` the settings. Each step's shutdown
//! checks are in `tests/steps.rs`, stamped from `tools::matrix`.

#![cfg(unix)]

mod api;
mod clients;
mod config;
mod crash;
mod deploy;
mod example;
mod visits;
