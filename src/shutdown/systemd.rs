//! Step 9's two conversations with systemd (or anything that speaks its
//! protocols): the listening socket it hands over, and the notify messages
//! that tell it how the service is doing.
//!
//! - An inherited listener: with socket activation the manager binds the
//!   socket itself and passes it as file descriptor 3, with `LISTEN_FDS=1`
//!   and `LISTEN_PID` set to our pid (`sd_listen_fds(3)`). The socket
//!   outlives each process that serves it, so during a restart connections
//!   wait in its backlog instead of being refused.
//! - Notify: `READY=1`, `STOPPING=1`, `STATUS=…` and `EXTEND_TIMEOUT_USEC=…`
//!   datagrams to the socket named by `NOTIFY_SOCKET` (`sd_notify(3)`).
//!   With no `NOTIFY_SOCKET`, nothing is sent.

use std::{env, io, net::TcpListener, time::Duration};

#[cfg(unix)]
use sd_notify::NotifyState;

// ANCHOR: inherited_listener
/// The listening socket this process was handed, if `LISTEN_FDS` and
/// `LISTEN_PID` say it was given one.
///
/// `listenfd` silently ignores a `LISTEN_FDS` that is not a number (and
/// binds as if it were unset), so the values are checked here first: a
/// malformed one is a mistake to report, like any bad setting. A
/// well-formed `LISTEN_PID` that is not ours means the socket was meant for
/// another process (a wrapper that exec'd us, say): it is ignored, as
/// `sd_listen_fds(3)` ignores it.
pub fn inherited_listener() -> io::Result<Option<TcpListener>> {
    let Some(count) = env::var_os("LISTEN_FDS") else {
        return Ok(None);
    };
    let count = count.to_string_lossy().into_owned();
    if count.trim() != "1" {
        return Err(invalid(format!(
            "invalid LISTEN_FDS={count:?}: expected 1 (one listening socket, at fd 3)"
        )));
    }
    let pid = env::var("LISTEN_PID").unwrap_or_default();
    let Ok(pid) = pid.trim().parse::<u32>() else {
        return Err(invalid(format!(
            "invalid LISTEN_PID={pid:?}: expected the pid of the process given the socket"
        )));
    };
    if pid != std::process::id() {
        return Ok(None);
    }
    let listener = listenfd::ListenFd::from_env()
        .take_tcp_listener(0)
        .map_err(|err| invalid(format!("cannot use the socket in LISTEN_FDS: {err}")))?;
    listener
        .ok_or_else(|| invalid("LISTEN_FDS named no socket".to_owned()))
        .map(Some)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
// ANCHOR_END: inherited_listener

// ANCHOR: notify
/// Sends notify messages when `NOTIFY_SOCKET` is set; does nothing when it
/// is not. A message that cannot be sent is logged, never fatal: the
/// service serves whether or not its manager hears.
pub struct Notify;

impl Notify {
    /// `READY=1`: the socket is served. With `Type=notify`, systemd counts
    /// the service started only now.
    pub fn ready(status: &str) {
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// `STOPPING=1`, and how long the stop may take from now
    /// (`EXTEND_TIMEOUT_USEC`): should that run past `TimeoutStopSec=`,
    /// systemd extends its stop timeout instead of killing the service
    /// (`sd_notify(3)`); within it, the message changes nothing.
    pub fn stopping(status: &str, within: Duration) {
        let usec = usec(within);
        send(&[
            NotifyState::Stopping,
            NotifyState::ExtendTimeoutUsec(usec),
            NotifyState::Status(status),
        ]);
    }

    /// A new phase, which may take up to `within` from now.
    pub fn phase(status: &str, within: Duration) {
        send(&[
            NotifyState::ExtendTimeoutUsec(usec(within)),
            NotifyState::Status(status),
        ]);
    }

    /// The current phase, for `systemctl status`.
    pub fn status(status: &str) {
        send(&[NotifyState::Status(status)]);
    }
}
// ANCHOR_END: notify

/// Microseconds for `EXTEND_TIMEOUT_USEC`, which `sd-notify` takes as a
/// `u32` (71 minutes at most): a longer wait is capped there.
fn usec(duration: Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX)
}

#[cfg(unix)]
fn send(states: &[NotifyState]) {
    if let Err(err) = sd_notify::notify(false, states) {
        tracing::warn!(%err, "cannot notify the service manager (NOTIFY_SOCKET)");
    }
}

/// Elsewhere there is no `NOTIFY_SOCKET` to speak to (`sd-notify` builds on
/// Unix only): the messages are built and dropped.
#[cfg(not(unix))]
fn send(_: &[NotifyState]) {}

#[cfg(not(unix))]
#[allow(dead_code, reason = "built for the Unix `send` only")]
enum NotifyState<'a> {
    Ready,
    Stopping,
    Status(&'a str),
    ExtendTimeoutUsec(u32),
}
