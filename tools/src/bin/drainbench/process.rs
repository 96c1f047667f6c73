//! What drainbench needs from the kernel beyond the harness: the moment a
//! server has exited and its peak memory, and enough file descriptors for
//! thousands of connections.

use std::{
    io,
    sync::mpsc::{self, Receiver},
    thread,
    time::Instant,
};

/// How a server ended, seen the moment it became a zombie.
#[derive(Debug, Clone, Copy)]
pub struct Exited {
    pub at: Instant,
    /// `ru_maxrss`: its peak resident set, in KiB.
    pub max_rss_kib: u64,
}

/// Starts a thread that waits for process `pid` to exit *without reaping
/// it*, and sends when it did and how much memory it had at most.
///
/// waitid(2) with `WNOWAIT` leaves the zombie for the harness to reap, so
/// the harness sees the exit status as usual. The raw system call takes a
/// fifth argument that the libc wrapper hides: the child's `rusage`, filled
/// in for a zombie too (`wait_task_zombie` in Linux's `kernel/exit.c`), so
/// the peak comes from the kernel's own accounting, read after the last
/// byte was allocated. The zombie is the exit a supervisor sees: every
/// socket is closed and every thread gone by then.
pub fn watch_exit(pid: u32) -> Receiver<io::Result<Exited>> {
    let (send, receive) = mpsc::channel();
    thread::spawn(move || {
        let _ = send.send(wait_without_reaping(pid));
    });
    receive
}

fn wait_without_reaping(pid: u32) -> io::Result<Exited> {
    loop {
        // SAFETY: both structures are plain data the kernel fills in; all
        // zeroes is a valid value of each.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: SYS_waitid takes (idtype, id, *siginfo, options,
        // *rusage); both pointers are valid for the whole call.
        let result = unsafe {
            libc::syscall(
                libc::SYS_waitid,
                libc::P_PID as libc::c_long,
                pid as libc::c_long,
                &mut info as *mut libc::siginfo_t,
                (libc::WEXITED | libc::WNOWAIT) as libc::c_long,
                &mut usage as *mut libc::rusage,
            )
        };
        if result == 0 {
            return Ok(Exited {
                at: Instant::now(),
                max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
            });
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Raises this process's soft limit on open files to its hard limit, and
/// returns the new soft limit. The servers it starts inherit it.
pub fn raise_fd_limit() -> io::Result<u64> {
    // SAFETY: getrlimit and setrlimit only read and write the struct.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(limit.rlim_cur)
    }
}

#[cfg(test)]
mod tests {
    use std::{process::Command, time::Duration};

    use super::*;

    /// The exit is seen, with a peak that covers what the child touched,
    /// and the child is left for its parent to reap with its status.
    #[test]
    fn an_exit_is_seen_without_reaping() {
        // 64 MiB written by a child that then exits 3.
        let mut child = Command::new("python3")
            .args(["-c", "b = bytearray(64 << 20); import sys; sys.exit(3)"])
            .spawn()
            .expect("python3 runs");
        let exited = watch_exit(child.id())
            .recv_timeout(Duration::from_secs(20))
            .expect("the child exits")
            .expect("waitid");
        assert!(
            exited.max_rss_kib >= 64 << 10,
            "peak {} KiB",
            exited.max_rss_kib
        );
        assert_eq!(child.wait().unwrap().code(), Some(3), "still ours to reap");
    }

    #[test]
    fn the_fd_limit_is_at_its_hard_limit() {
        let soft = raise_fd_limit().unwrap();
        assert!(soft >= 1024, "{soft}");
    }
}
