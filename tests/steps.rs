//! Each step's shutdown, on the real binary, with real signals: every
//! check that `tools::matrix` declares for a step, named
//! `stepN::what_a_user_sees`. The workbook's lessons run the very same
//! checks on the learner's binaries.
//!
//! `cargo test --test steps step3::` runs step 3's; `cargo test --test
//! steps -- --list` lists them all.

fn main() {
    #[cfg(unix)]
    tools::matrix::run_checks(&tools::matrix::STEPS);
}
