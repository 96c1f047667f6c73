//! Each step's shutdown, on the real binary, with real signals: every
//! check that `tools::matrix` declares for a step, named
//! `stepN::what_a_user_sees`, and the same for the one-file example
//! (`graceful_shutdown::…`). The workbook's lessons run the very same
//! checks on the learner's binaries.
//!
//! `cargo test --test steps step3::` runs step 3's; `cargo test --test
//! steps -- --list` lists them all.

fn main() {
    #[cfg(unix)]
    {
        use tools::matrix::{EXAMPLE, STEPS};
        let mut binaries = STEPS.to_vec();
        binaries.push(EXAMPLE);
        tools::matrix::run_checks(&binaries);
    }
}
