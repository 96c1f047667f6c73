//! What a run found: the table, the database check, the verification
//! against the server's request log, and the one-line summary that
//! `scripts/figures.sh` collects.

use std::{
    collections::HashSet,
    fmt::Write as _,
    path::Path,
    process::ExitStatus,
    time::{Duration, Instant},
};

use rusqlite::OpenFlags;
use tools::{
    harness::{LogLine, describe_status},
    millis,
    stats::percentile,
    without_timestamp,
};

use tools::load::{ClientReport, Kind, Mode, Outcome, Verdict};

/// Counts of verdicts, by kind of request, connection mode and outcome.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    counts: [[[u64; Outcome::ALL.len()]; Mode::ALL.len()]; Kind::ALL.len()],
}

impl Tally {
    pub fn of(verdicts: &[Verdict]) -> Tally {
        let mut tally = Tally::default();
        for verdict in verdicts {
            tally.counts[verdict.kind as usize][verdict.mode as usize][verdict.outcome as usize] +=
                1;
        }
        tally
    }

    /// How many verdicts match all three filters (`None`: any).
    pub fn count(&self, kind: Option<Kind>, mode: Option<Mode>, outcome: Option<Outcome>) -> u64 {
        let mut total = 0;
        for k in Kind::ALL
            .into_iter()
            .filter(|k| kind.is_none_or(|want| want == *k))
        {
            for m in Mode::ALL
                .into_iter()
                .filter(|m| mode.is_none_or(|want| want == *m))
            {
                for o in Outcome::ALL
                    .into_iter()
                    .filter(|o| outcome.is_none_or(|want| want == *o))
                {
                    total += self.counts[k as usize][m as usize][o as usize];
                }
            }
        }
        total
    }
}

/// What the database file says after the exit.
#[derive(Debug)]
pub struct DatabaseCheck {
    pub acknowledged: usize,
    pub lost: usize,
    /// Rows that no client saw acknowledged: writes that ran although the
    /// client got no `201` (a broken or unknown request that committed).
    pub unacknowledged_rows: usize,
    pub integrity: String,
}

/// Opens the database the step left and looks for every acknowledged id.
///
/// Opened read-write, as the next start of the service would: a process
/// killed without closing leaves its last commits in the write-ahead log,
/// and opening the file is what brings them back.
pub fn check_database(path: &Path, acknowledged: &[i64]) -> Result<DatabaseCheck, String> {
    // A server with no database (the Go program, plain-axum) that was sent
    // no write has nothing to check.
    if acknowledged.is_empty() && !path.exists() {
        return Ok(DatabaseCheck {
            acknowledged: 0,
            lost: 0,
            unacknowledged_rows: 0,
            integrity: "(no database)".to_owned(),
        });
    }
    let fail = |err: rusqlite::Error| format!("database {}: {err}", path.display());
    let conn = rusqlite::Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(fail)?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(fail)?;
    let mut select = conn.prepare("SELECT id FROM bookmarks").map_err(fail)?;
    let stored: HashSet<i64> = select
        .query_map([], |row| row.get(0))
        .map_err(fail)?
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    let lost = acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .count();
    Ok(DatabaseCheck {
        acknowledged: acknowledged.len(),
        lost,
        unacknowledged_rows: stored.len() - (acknowledged.len() - lost),
        integrity,
    })
}

/// The shutdown as the driver saw it.
#[derive(Debug)]
pub struct Shutdown {
    pub signal: &'static str,
    pub signal_at: Instant,
    pub second_signal_at: Option<Instant>,
    /// When the process was seen gone.
    pub exit_at: Instant,
    pub exit_status: ExitStatus,
    /// The exit limit passed and the tool had to SIGKILL the process.
    pub killed_by_tool: bool,
}

impl Shutdown {
    pub fn took(&self) -> Duration {
        self.exit_at.saturating_duration_since(self.signal_at)
    }

    /// The `exit=` field: the status, or `hung` if the tool had to kill it.
    pub fn exit_field(&self) -> String {
        if self.killed_by_tool {
            "hung".to_owned()
        } else {
            describe_status(self.exit_status)
        }
    }
}

/// How the verdicts compare with the server's request log.
#[derive(Debug, Default)]
pub struct Verification {
    /// (verdicts, of which the server had started)
    pub broken: (usize, usize),
    pub unknown: (usize, usize),
    pub late_refused: (usize, usize),
    /// Verdicts the log contradicts: a broken request the server never
    /// started, or an unknown or refused one it did.
    pub doubtful: Vec<Verdict>,
}

/// Matches each broken, unknown or late-refused request with the
/// `started processing request` line the server logs (at `debug`) when a
/// request reaches the application. Broken requests should all be there;
/// unknown and late-refused ones should not.
pub fn verify(verdicts: &[Verdict], logs: &[LogLine]) -> Verification {
    let started: HashSet<u64> = logs
        .iter()
        .filter(|line| line.text.contains("started processing request"))
        .filter_map(|line| {
            let digits = line.text.split("rid=").nth(1)?;
            let end = digits
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(digits.len());
            digits[..end].parse().ok()
        })
        .collect();
    let mut found = Verification::default();
    for verdict in verdicts {
        let slot = match verdict.outcome {
            Outcome::Broken => &mut found.broken,
            Outcome::Unknown => &mut found.unknown,
            Outcome::Refused if verdict.connected => &mut found.late_refused,
            _ => continue,
        };
        slot.0 += 1;
        let was_started = started.contains(&verdict.rid);
        if was_started {
            slot.1 += 1;
        }
        if was_started != (verdict.outcome == Outcome::Broken) {
            found.doubtful.push(*verdict);
        }
    }
    found
}

/// The settings a run was made with, for the report's first line.
pub struct RunDescription<'a> {
    pub step: &'a str,
    pub clients: usize,
    pub duration: Duration,
    pub shutdown_timeout: &'a str,
    pub second_signal: Option<Duration>,
    pub health_only: bool,
    /// When the clients started.
    pub load_started: Instant,
}

/// Throughput and latency of the load before the signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub answers: usize,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

impl Pace {
    /// Over the requests answered 2xx before the signal, from the start of
    /// the load to the signal; `None` if there were none.
    pub fn of(verdicts: &[Verdict], load_started: Instant, signal_at: Instant) -> Option<Pace> {
        let mut took: Vec<Duration> = verdicts
            .iter()
            .filter(|verdict| verdict.outcome == Outcome::Ok && !verdict.ended_after_signal)
            .map(|verdict| verdict.took)
            .collect();
        took.sort_unstable();
        let seconds = signal_at
            .saturating_duration_since(load_started)
            .as_secs_f64();
        Some(Pace {
            answers: took.len(),
            per_second: if seconds > 0.0 {
                took.len() as f64 / seconds
            } else {
                0.0
            },
            p50: percentile(&took, 50.0)?,
            p99: percentile(&took, 99.0)?,
        })
    }
}

/// Milliseconds with two decimals: latencies on loopback are fractions
/// of one.
fn fine_millis(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

/// The whole report: table, notes, and the summary line last.
pub fn render(
    run: &RunDescription<'_>,
    clients: &[ClientReport],
    shutdown: &Shutdown,
    logs: &[LogLine],
    database: &DatabaseCheck,
    verification: Option<&Verification>,
) -> String {
    let verdicts: Vec<Verdict> = clients
        .iter()
        .flat_map(|client| client.verdicts.iter().copied())
        .collect();
    let tally = Tally::of(&verdicts);
    let mut out = String::new();

    let keep_alive = run.clients.div_ceil(2);
    if run.health_only {
        let _ = write!(
            out,
            "loadtest {}: {} clients, each GET /health on one kept-alive connection, for {:?}, then {}",
            run.step, run.clients, run.duration, shutdown.signal,
        );
    } else {
        let _ = write!(
            out,
            "loadtest {}: {} clients ({} keep-alive, {} new connection per request) for {:?}, then {}",
            run.step,
            run.clients,
            keep_alive,
            run.clients - keep_alive,
            run.duration,
            shutdown.signal,
        );
    }
    if let Some(delay) = run.second_signal {
        let _ = write!(out, " and a second SIGTERM {delay:?} later");
    }
    let _ = writeln!(out, "; SHUTDOWN_TIMEOUT={}\n", run.shutdown_timeout);

    let _ = writeln!(
        out,
        "{:<20} {:<15} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "request", "connection", "sent", "ok", "refused", "broken", "unknown", "errors"
    );
    let row = |out: &mut String, label: &str, mode_label: &str, kind, mode| {
        let count = |outcome| tally.count(kind, mode, outcome);
        let _ = writeln!(
            out,
            "{:<20} {:<15} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
            label,
            mode_label,
            count(None),
            count(Some(Outcome::Ok)),
            count(Some(Outcome::Refused)),
            count(Some(Outcome::Broken)),
            count(Some(Outcome::Unknown)),
            count(Some(Outcome::Error)),
        );
    };
    for kind in Kind::ALL {
        for mode in Mode::ALL {
            row(&mut out, kind.label(), mode.label(), Some(kind), Some(mode));
        }
    }
    row(&mut out, "all", "", None, None);
    out.push('\n');

    let pace = Pace::of(&verdicts, run.load_started, shutdown.signal_at);
    if let Some(pace) = pace {
        let _ = writeln!(
            out,
            "load       {} answers before the signal, {:.0} a second; latency p50 {} ms, p99 {} ms",
            pace.answers,
            pace.per_second,
            fine_millis(pace.p50),
            fine_millis(pace.p99),
        );
    }
    let drained = verdicts.iter().filter(|verdict| verdict.drained).count();
    let _ = writeln!(
        out,
        "in flight  {drained} requests in flight when the signal was sent were answered after it"
    );
    // The last answer marks the end of the drain; what comes after it, up
    // to the exit, is the step's cleanup (closing the database, mostly).
    let last_answer = verdicts
        .iter()
        .filter(|verdict| verdict.outcome == Outcome::Ok)
        .map(|verdict| verdict.ended_at)
        .max()
        .filter(|at| *at > shutdown.signal_at)
        .map(|at| {
            format!(
                "; last answer {} ms after the signal",
                millis(at - shutdown.signal_at)
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "exit       {} after {} ms{}{}",
        describe_status(shutdown.exit_status),
        millis(shutdown.took()),
        if shutdown.killed_by_tool {
            " (still running at the exit limit: killed by loadtest)"
        } else {
            ""
        },
        last_answer
    );
    if let Some(second) = shutdown.second_signal_at {
        let _ = writeln!(
            out,
            "           second SIGTERM sent {} ms after the first",
            millis(second.saturating_duration_since(shutdown.signal_at))
        );
    }
    // The step's own account of its shutdown, without the per-request
    // lines that --verify turns on.
    for line in logs
        .iter()
        .filter(|line| line.at >= shutdown.signal_at || line.stderr)
        .filter(|line| !line.text.contains("tower_http"))
        .take(20)
    {
        let stream = if line.stderr { "stderr: " } else { "" };
        let _ = writeln!(
            out,
            "  log {:>8} ms  {stream}{}",
            format!(
                "+{}",
                millis(line.at.saturating_duration_since(shutdown.signal_at))
            ),
            without_timestamp(&line.text)
        );
    }
    let _ = writeln!(
        out,
        "writes     {} acknowledged, {} lost; {} rows no client saw acknowledged; integrity_check {}",
        database.acknowledged, database.lost, database.unacknowledged_rows, database.integrity
    );
    let closed_before_reuse: u64 = clients.iter().map(|c| c.closed_before_reuse).sum();
    let _ = writeln!(
        out,
        "reuse      {closed_before_reuse} idle keep-alive connections were seen closed before reuse (not counted as requests)"
    );
    let refused_early = verdicts
        .iter()
        .filter(|verdict| verdict.outcome == Outcome::Refused && !verdict.ended_after_signal)
        .count();
    if refused_early > 0 {
        let _ = writeln!(
            out,
            "note       {refused_early} connections were refused before the signal"
        );
    }
    if let Some(found) = verification {
        let _ = writeln!(
            out,
            "verify     started by the server, per the request log: broken {}/{}, unknown {}/{}, refused after connecting {}/{}",
            found.broken.1,
            found.broken.0,
            found.unknown.1,
            found.unknown.0,
            found.late_refused.1,
            found.late_refused.0,
        );
        for verdict in found.doubtful.iter().take(10) {
            let _ = writeln!(
                out,
                "  doubtful rid={} {} ({} client, {}): {}, written {} the signal → {:?}",
                verdict.rid,
                verdict.kind.label(),
                verdict.mode.label(),
                if verdict.reused {
                    "reused connection"
                } else {
                    "first request on its connection"
                },
                verdict.seen,
                if verdict.written_after_signal {
                    "after"
                } else {
                    "before"
                },
                verdict.outcome,
            );
        }
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "step={} sent={} ok={} refused={} broken={} unknown={} acked_writes={} lost_writes={} shutdown_ms={} exit={} rps={} p50_ms={} p99_ms={}",
        run.step,
        tally.count(None, None, None),
        tally.count(None, None, Some(Outcome::Ok)),
        tally.count(None, None, Some(Outcome::Refused)),
        tally.count(None, None, Some(Outcome::Broken)),
        tally.count(None, None, Some(Outcome::Unknown)),
        database.acknowledged,
        database.lost,
        millis(shutdown.took()),
        shutdown.exit_field(),
        pace.map_or("-".to_owned(), |pace| format!("{:.0}", pace.per_second)),
        pace.map_or("-".to_owned(), |pace| fine_millis(pace.p50)),
        pace.map_or("-".to_owned(), |pace| fine_millis(pace.p99)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(outcome: Outcome, ended_after_signal: bool, took_ms: u64) -> Verdict {
        Verdict {
            kind: Kind::Health,
            mode: Mode::KeepAlive,
            outcome,
            status: 200,
            rid: 0,
            connected: true,
            seen: "answer",
            reused: true,
            written_after_signal: ended_after_signal,
            ended_after_signal,
            drained: false,
            ended_at: Instant::now(),
            took: Duration::from_millis(took_ms),
        }
    }

    #[test]
    fn the_pace_counts_answers_before_the_signal_only() {
        let started = Instant::now();
        let signal = started + Duration::from_secs(2);
        let mut verdicts: Vec<Verdict> = (1..=100)
            .map(|ms| verdict(Outcome::Ok, false, ms))
            .collect();
        // The drain's answers, and what failed, are left out.
        verdicts.push(verdict(Outcome::Ok, true, 5000));
        verdicts.push(verdict(Outcome::Broken, false, 7000));
        let pace = Pace::of(&verdicts, started, signal).unwrap();
        assert_eq!(pace.answers, 100);
        assert_eq!(pace.per_second, 50.0);
        assert_eq!(pace.p50, Duration::from_millis(50));
        assert_eq!(pace.p99, Duration::from_millis(99));
        assert_eq!(Pace::of(&verdicts[100..], started, signal), None);
    }

    #[test]
    fn a_server_without_a_database_has_nothing_to_check() {
        let dir = tempfile::tempdir().unwrap();
        let check = check_database(&dir.path().join("absent.db"), &[]).unwrap();
        assert_eq!((check.acknowledged, check.lost), (0, 0));
        // An acknowledged write with no database to hold it is an error.
        assert!(check_database(&dir.path().join("absent.db"), &[1]).is_err());
    }
}
