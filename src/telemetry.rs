//! Logging set-up: `tracing` events printed to standard output, filtered by
//! `RUST_LOG` (default `info`), and, for step 5 on, copied to a file.

use std::{fs::OpenOptions, io::IsTerminal, path::Path};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

use crate::StartupError;

/// Installs the global subscriber, printing to standard output. Fails,
/// without installing anything, if `RUST_LOG` is not a filter.
pub fn init() -> Result<(), StartupError> {
    init_with_file(None).map(drop)
}

// ANCHOR: log_file
/// As [`init`], and with `log_file` the logs also go to that file.
///
/// The file is written by a background thread (tracing-appender's
/// non-blocking writer), so a slow disk does not stall a request. The
/// price: lines wait in a queue until that thread writes them. Dropping
/// the returned guard tells the thread to write what is queued and waits
/// for it, for up to 100 ms to deliver the request and up to a second more
/// for the thread to finish (`impl Drop for WorkerGuard` in
/// tracing-appender 0.2.5's `src/non_blocking.rs`); it is the only way to
/// make sure the last lines reach the file. `std::process::exit` runs no destructors, so a
/// process that ends that way loses them, `server stopped` among them.
pub fn init_with_file(log_file: Option<&Path>) -> Result<Option<WorkerGuard>, StartupError> {
    // One filter for the whole subscriber, not one per output: with
    // per-layer filters every span is recorded before a layer declines it,
    // a cost on every request at the default level.
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) => EnvFilter::try_new(&directives)
            .map_err(|err| StartupError(format!("invalid RUST_LOG={directives:?}: {err}")))?,
        Err(_) => EnvFilter::new("info"),
    };
    let stdout = tracing_subscriber::fmt::layer()
        // Colour codes only for a person at a terminal: tests and log
        // collectors read the plain text.
        .with_ansi(std::io::stdout().is_terminal());
    let (file, guard) = match log_file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|err| {
                    StartupError(format!("cannot open LOG_FILE={:?}: {err}", path.display()))
                })?;
            // Not lossy: with a full queue a log call waits rather than
            // drop the line. Losing lines is what this writer is here to
            // show how to avoid.
            let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .lossy(false)
                .finish(file);
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer);
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(stdout)
        .with(file)
        .try_init()
        .map_err(|err| StartupError(format!("cannot set up logging: {err}")))?;
    Ok(guard)
}
// ANCHOR_END: log_file

/// Flushes the log file, if there is one: drops its guard, which waits
/// until the writer thread has written every queued line, but for no longer
/// than `within` (`shutdown::deadline::drop_within`). Says on standard
/// error when it gave up, as the log itself no longer can.
pub fn flush_within(guard: Option<WorkerGuard>, within: std::time::Duration) -> bool {
    let flushed = crate::shutdown::deadline::drop_within(guard, within);
    if !flushed {
        eprintln!("error: LOG_FILE not flushed within {within:?}; its last lines may be missing");
    }
    flushed
}
