//! A runtime whose end is bounded, for step 5 on.
//!
//! `#[tokio::main]` drops its runtime when `main` returns, and dropping a
//! runtime waits for every blocking thread still running
//! (`spawn_blocking`, and so every rusqlite call behind it). Nothing can
//! stop such a thread: a handler stuck in synchronous code would hold the
//! exit for as long as it ran, whatever the drain deadline said.
//! `Runtime::shutdown_timeout` waits a moment instead, then leaves those
//! threads behind; the process exit ends them.

use std::{future::Future, process::ExitCode};

use super::deadline::RUNTIME_GRACE;

// ANCHOR: block_on
/// Runs `run` to its end on a multi-threaded runtime of its own, then
/// gives the runtime [`RUNTIME_GRACE`] to stop: a blocking thread still
/// running then is left behind, not waited for.
///
/// By the time `run` returns, the step has logged what it abandoned and
/// closed what it could; what is left behind can no longer lose anything
/// the step promised to keep.
pub fn block_on(run: impl Future<Output = ExitCode>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            // The one start-up failure that cannot go through the step's
            // own error type: there is no step yet. Same line, same status.
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let status = runtime.block_on(run);
    runtime.shutdown_timeout(RUNTIME_GRACE);
    status
}
// ANCHOR_END: block_on
