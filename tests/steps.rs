//! Each step stopped as users stop it, on the real binary: by real signals,
//! every check that `tools::matrix` declares for a step, named
//! `stepN::what_a_user_sees`, and the same for the one-file example
//! (`graceful_shutdown::…`); as PID 1 of a PID namespace (`pid1::…`);
//! behind HAProxy (`rollout::…`); in a container under podman
//! (`container::…`). The workbook's lessons run the very same checks on the
//! learner's binaries.
//!
//! One binary for all of them, so that they wait side by side: most of
//! their time is spent waiting for a drain, a deadline or a grace period.
//! `cargo test --test steps step3::` runs step 3's checks; `cargo test
//! --test steps -- --list` lists them all.

#[cfg(unix)]
mod container;
#[cfg(unix)]
mod pid1;
#[cfg(unix)]
mod rollout;

fn main() {
    #[cfg(unix)]
    {
        use tools::matrix::{EXAMPLE, STEPS};
        let mut binaries = STEPS.to_vec();
        binaries.push(EXAMPLE);
        let more = [pid1::trials(), rollout::trials(), container::trials()]
            .into_iter()
            .flatten()
            .collect();
        tools::matrix::run_checks_with(&binaries, more);
    }
}
