//! Listening for the requests that ask a process to stop.
//!
//! On Unix those are SIGINT and SIGTERM. On Windows there are no signals of
//! that kind; a console process is sent console control events instead, and
//! tokio exposes each one (`tokio::signal::windows`). Four of them mean
//! "stop":
//!
//! - `CTRL_C` and `CTRL_BREAK`: the keys, or `GenerateConsoleCtrlEvent`.
//!   Windows sets no time limit on these.
//! - `CTRL_CLOSE`: the console window was closed (or "End task"). Windows
//!   ends the process about 5 s later (`SPI_GETHUNGAPPTIMEOUT`, 5000 ms by
//!   default) whatever it is doing, so a drain after a closed console must
//!   fit in that: a `SHUTDOWN_TIMEOUT` of 10 s does not.
//! - `CTRL_SHUTDOWN`: the system is shutting down. Only services still
//!   receive it; they get 20 s (`SPI_GETWAITTOKILLSERVICETIMEOUT`).
//!
//! `CTRL_LOGOFF` is not among them: it reaches services only and says that
//! *some* user is logging off, not that this process should stop. It is
//! left to Windows' default handling.
//!
//! Sources: Microsoft's HandlerRoutine page
//! (<https://learn.microsoft.com/en-us/windows/console/handlerroutine>) for
//! what each event means and who receives it; the timeouts are from
//! `doc/ConsoleCtrlEvent.md` in <https://github.com/microsoft/terminal>.
//! tokio never returns from its handler for the close and shutdown events
//! (`tokio/src/signal/windows/sys.rs`, `SignalKind::terminates`): returning
//! would end the process at once, so the process keeps the time above.
//!
//! What the tests cannot cover: they send real signals with kill(2), so
//! they run on Unix only. The Windows branch is compiled
//! (`cargo check --target x86_64-pc-windows-gnu --lib --bins`, in CI where
//! rustup can fetch the target) but no
//! test here delivers a console event to it or measures the 5 s.

use std::io;

// ANCHOR: signals
/// SIGINT (Ctrl+C in a terminal) and SIGTERM (what `kill`, `docker stop`,
/// Kubernetes and systemd send), caught from the moment this is created;
/// on Windows, the console events listed at the top of this file.
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
    #[cfg(windows)]
    windows: WindowsEvents,
}

impl ShutdownSignals {
    pub fn install() -> io::Result<ShutdownSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind| signal(kind).map_err(cannot_listen);
            Ok(ShutdownSignals {
                interrupt: listen(SignalKind::interrupt())?,
                terminate: listen(SignalKind::terminate())?,
            })
        }
        #[cfg(windows)]
        {
            Ok(ShutdownSignals {
                windows: WindowsEvents::install()?,
            })
        }
    }

    /// Waits for the next stop request and names it. Can be called again: a
    /// later step uses the second one to force an exit.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(windows)]
        {
            self.windows.recv().await
        }
    }
}
// ANCHOR_END: signals

fn cannot_listen(err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("cannot listen for signals: {err}"))
}

#[cfg(windows)]
struct WindowsEvents {
    ctrl_c: tokio::signal::windows::CtrlC,
    ctrl_break: tokio::signal::windows::CtrlBreak,
    ctrl_close: tokio::signal::windows::CtrlClose,
    ctrl_shutdown: tokio::signal::windows::CtrlShutdown,
}

#[cfg(windows)]
impl WindowsEvents {
    fn install() -> io::Result<WindowsEvents> {
        use tokio::signal::windows;
        Ok(WindowsEvents {
            ctrl_c: windows::ctrl_c().map_err(cannot_listen)?,
            ctrl_break: windows::ctrl_break().map_err(cannot_listen)?,
            ctrl_close: windows::ctrl_close().map_err(cannot_listen)?,
            ctrl_shutdown: windows::ctrl_shutdown().map_err(cannot_listen)?,
        })
    }

    // Each `recv` returns `Option<()>` but never `None` (tokio's docs), so
    // the value is not looked at.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.ctrl_c.recv() => "CTRL_C",
            _ = self.ctrl_break.recv() => "CTRL_BREAK",
            _ = self.ctrl_close.recv() => "CTRL_CLOSE",
            _ = self.ctrl_shutdown.recv() => "CTRL_SHUTDOWN",
        }
    }
}
