//! Logging set-up: `tracing` events printed to standard output, filtered by
//! `RUST_LOG` (default `info`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Fails, without installing anything, if
/// `RUST_LOG` is set to something that is not a filter.
pub fn init() -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) => EnvFilter::try_new(&directives)
            .map_err(|err| format!("invalid RUST_LOG={directives:?}: {err}"))?,
        Err(_) => EnvFilter::new("info"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal: tests and log
        // collectors read the plain text.
        .with_ansi(std::io::stdout().is_terminal())
        .try_init()
        .map_err(|err| format!("cannot set up logging: {err}"))
}
