//! Listening for the signals that ask a process to stop.

use crate::StartupError;

// ANCHOR: signals
/// SIGINT (Ctrl+C in a terminal) and SIGTERM (what `kill`, `docker stop`,
/// Kubernetes and systemd send), caught from the moment this is created.
///
/// Creating it installs the handlers at once. That matters: a signal that
/// arrives before the handler exists still kills the process, so a step
/// creates this *before* it logs `server starting`, the line that tells
/// tests and supervisors the process is ready.
pub struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    pub fn install() -> Result<ShutdownSignals, StartupError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind| {
                signal(kind)
                    .map_err(|err| StartupError(format!("cannot listen for signals: {err}")))
            };
            Ok(ShutdownSignals {
                interrupt: listen(SignalKind::interrupt())?,
                terminate: listen(SignalKind::terminate())?,
            })
        }
        // Elsewhere there is no SIGTERM; Ctrl+C is the one stop request,
        // and `recv` listens for it.
        #[cfg(not(unix))]
        Ok(ShutdownSignals {})
    }

    /// Waits for the next signal and names it. Can be called again: a later
    /// step uses the second signal to force an exit.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            // If Ctrl+C cannot be listened for, never report a signal
            // rather than report one that did not come.
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl+C",
                Err(_) => std::future::pending().await,
            }
        }
    }
}
// ANCHOR_END: signals
