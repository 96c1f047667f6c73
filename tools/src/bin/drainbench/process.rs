//! What drainbench needs from the kernel beyond the harness: the moment a
//! server has exited, its peak memory, and enough file descriptors for
//! thousands of connections.

use std::{
    fs, io,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc::{self, Receiver},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// A server's exit, seen the moment it became a zombie.
#[derive(Debug, Clone, Copy)]
pub struct Exited {
    pub at: Instant,
}

/// Starts a thread that waits for process `pid` to exit *without reaping
/// it*, and sends when it did.
///
/// waitid(2) with `WNOWAIT` leaves the zombie for the harness to reap, so
/// the harness sees the exit status as usual. The zombie is the exit a
/// supervisor sees: every socket is closed and every thread gone by then.
pub fn watch_exit(pid: u32) -> Receiver<io::Result<Exited>> {
    let (send, receive) = mpsc::channel();
    thread::spawn(move || {
        let _ = send.send(wait_without_reaping(pid));
    });
    receive
}

fn wait_without_reaping(pid: u32) -> io::Result<Exited> {
    loop {
        // SAFETY: plain data the kernel fills in; all zeroes is valid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: the pointer is valid for the whole call.
        let result = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if result == 0 {
            return Ok(Exited { at: Instant::now() });
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// How often the peak is read: often enough that little can be missed,
/// seldom enough to cost the server nothing it would notice.
const PEAK_EVERY: Duration = Duration::from_millis(5);

/// Reads `VmHWM`, the peak resident set, of process `pid` until it exits
/// or `stop` is raised; the thread returns the last value read, in KiB.
///
/// Not `ru_maxrss`: for a child that one starts from the pages it shared
/// with its parent before exec (exec keeps the old mappings' peak, in
/// `exec_mmap` of Linux's `fs/exec.c`), so it grew with this tool's own
/// memory from run to run. `VmHWM` belongs to the process's own address
/// space. It stops being readable once the exit has released that space,
/// so the last value read is at most a few milliseconds short of the end.
pub fn sample_peak(pid: u32, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
    thread::spawn(move || {
        let path = format!("/proc/{pid}/status");
        let mut peak = 0;
        while !stop.load(Ordering::SeqCst) {
            match fs::read_to_string(&path)
                .ok()
                .as_deref()
                .and_then(vm_hwm_kib)
            {
                Some(kib) => peak = peak.max(kib),
                None => break,
            }
            thread::sleep(PEAK_EVERY);
        }
        peak
    })
}

/// The `VmHWM:` line of a `/proc/PID/status`, in KiB.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(value)
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

    /// The exit is seen, the peak covers what the child touched, and the
    /// child is left for its parent to reap with its status.
    #[test]
    fn an_exit_and_its_peak_are_seen_without_reaping() {
        // 64 MiB written by a child that then waits a moment and exits 3.
        let mut child = Command::new("python3")
            .args([
                "-c",
                "import sys, time; b = bytearray(64 << 20); time.sleep(0.3); sys.exit(3)",
            ])
            .spawn()
            .expect("python3 runs");
        let peak = sample_peak(child.id(), Arc::new(AtomicBool::new(false)));
        let started = Instant::now();
        let exited = watch_exit(child.id())
            .recv_timeout(Duration::from_secs(20))
            .expect("the child exits")
            .expect("waitid");
        assert!(exited.at - started >= Duration::from_millis(200));
        let peak = peak.join().unwrap();
        assert!((64 << 10..1 << 20).contains(&peak), "peak {peak} KiB");
        assert_eq!(child.wait().unwrap().code(), Some(3), "still ours to reap");
    }

    #[test]
    fn the_peak_is_read_from_its_line() {
        let status = "Name:\tstep2\nVmPeak:\t  900 kB\nVmHWM:\t   10240 kB\nVmRSS:\t 99 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(10240));
        // A zombie's status has no memory lines.
        assert_eq!(vm_hwm_kib("Name:\tstep2\nState:\tZ (zombie)\n"), None);
        assert_eq!(vm_hwm_kib("VmHWM:\t12 MB\n"), None);
    }

    #[test]
    fn the_fd_limit_is_at_its_hard_limit() {
        let soft = raise_fd_limit().unwrap();
        assert!(soft >= 1024, "{soft}");
    }
}
