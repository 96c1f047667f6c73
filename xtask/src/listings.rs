//! The book's listings of runs are still what the steps print.
//!
//! Each `book/src/listings/NAME.scenario` is played again by the `listing`
//! tool (`tools/src/bin/listing.rs`, which documents the format), all of
//! them side by side, and what it prints is compared with the committed
//! `NAME.txt`: the commands in order, the step's log lines in order, the
//! commands' output in any order, all with durations masked (`503.2ms` and
//! `3.0s` read as `#`): the times vary from run to run, the lines may not.
//! Of a `$ cargo test …` listing, cargo's progress lines (`Compiling`,
//! `Finished`, `Running`) are left out; its `test result:` lines, with
//! their counts, are compared like any output. How long after its last
//! signal a step exited (the comment of a `$ echo $?`) is compared within
//! [`EXIT_TIME_TOLERANCE`]: a quiz answer states it.
//! `scripts/listings.sh` rewrites the files.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    thread,
};

use crate::root;

fn listings_dir() -> PathBuf {
    root().join("book").join("src").join("listings")
}

/// A number with a fraction, or followed by a unit of time, becomes `#`:
/// `took 12.5ms` → `took #`, `after 3s` → `after #`; other numbers stay.
pub fn mask_durations(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        let starts_number = chars[i].is_ascii_digit()
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'));
        if !starts_number {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut end = i;
        while end < chars.len() && (chars[end].is_ascii_digit() || chars[end] == '.') {
            end += 1;
        }
        let number: String = chars[i..end].iter().collect();
        let number = number.trim_end_matches('.');
        let end = i + number.chars().count();
        let mut unit_end = end;
        if chars.get(unit_end) == Some(&' ') {
            unit_end += 1;
        }
        let rest: String = chars[unit_end..].iter().take(3).collect();
        let unit = ["ms", "µs", "ns", "s"]
            .iter()
            .find(|unit| {
                rest.starts_with(**unit)
                    && !rest[unit.len()..].starts_with(|c: char| c.is_alphanumeric())
            })
            .map(|unit| unit.chars().count());
        if let Some(len) = unit {
            out.push('#');
            i = unit_end + len;
        } else if number.contains('.') {
            out.push('#');
            i = end;
        } else {
            out.push_str(number);
            i = end;
        }
    }
    out
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn build() -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for args in [
        &["build", "--quiet", "--package", "bookmarks", "--bins"][..],
        &["build", "--quiet", "--package", "tools", "--bin", "listing"][..],
    ] {
        let status = Command::new(&cargo)
            .args(args)
            .status()
            .map_err(|err| format!("cannot run cargo: {err}"))?;
        if !status.success() {
            return Err(format!("cargo {} failed", args.join(" ")));
        }
    }
    Ok(())
}

/// A listing's lines, continuations joined and durations masked: the
/// commands in their order, the step's log lines in theirs, then the
/// commands' output sorted. Which of them comes first races (a request's
/// log line and curl's exit), so their interleaving is not compared.
fn comparable(text: &str) -> Vec<String> {
    // Cargo's progress lines depend on what was built before: not compared.
    let progress = |line: &str| {
        let word = line.trim_start().split(' ').next().unwrap_or("");
        [
            "Compiling",
            "Finished",
            "Running",
            "Blocking",
            "Downloaded",
            "Locking",
        ]
        .contains(&word)
    };
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines().filter(|line| !progress(line)) {
        match (line.strip_prefix("  "), lines.last_mut()) {
            (Some(rest), Some(last)) => {
                last.push(' ');
                last.push_str(rest);
            }
            _ => lines.push(line.to_owned()),
        }
    }
    let is_log = |line: &String| {
        ["TRACE ", "DEBUG ", "INFO ", "WARN ", "ERROR "]
            .iter()
            .any(|level| line.starts_with(level))
    };
    // Cargo's progress lines depend on what was built before: not compared.
    let progress = |line: &&String| {
        let word = line.trim_start().split(' ').next().unwrap_or("");
        [
            "Compiling",
            "Finished",
            "Running",
            "Blocking",
            "Downloaded",
            "Locking",
        ]
        .contains(&word)
    };
    let masked: Vec<String> = lines
        .iter()
        .filter(|line| !progress(line))
        .map(|line| mask_durations(line))
        .collect();
    let commands = masked.iter().filter(|line| line.starts_with("$ "));
    let logs = masked.iter().filter(|line| is_log(line));
    let mut others: Vec<&String> = masked
        .iter()
        .filter(|line| !line.starts_with("$ ") && !is_log(line))
        .collect();
    others.sort();
    let mut comparable: Vec<String> = commands.cloned().collect();
    comparable.push("--- the step's lines:".to_owned());
    comparable.extend(logs.cloned());
    comparable.push("--- and, in any order:".to_owned());
    comparable.extend(others.into_iter().cloned());
    comparable
}

/// How far apart the exit times of two runs of a scenario may be: the
/// timers they wait on are exact to a few milliseconds, a machine busy
/// with other work delays them a little more; what a reader predicts (at
/// the deadline, or when the blocking thread wakes) is seconds apart.
const EXIT_TIME_TOLERANCE: f64 = 0.5;

/// How long after its last signal the step exited, in seconds, for each
/// `$ echo $?   # in step3's terminal; step3 exited 2.0 s after the SIGTERM`.
fn exit_times(text: &str) -> Vec<f64> {
    text.lines()
        .filter(|line| line.starts_with("$ echo $?"))
        .filter_map(|line| {
            let (_, rest) = line.split_once(" exited ")?;
            let (seconds, _) = rest.split_once(" s after ")?;
            seconds.parse().ok()
        })
        .collect()
}

/// What differs between the committed listing and a fresh run, if anything.
fn compare(name: &str, committed_text: &str, fresh_text: &str) -> Option<String> {
    let committed = comparable(committed_text);
    let fresh = comparable(fresh_text);
    if committed == fresh {
        let (then, now) = (exit_times(committed_text), exit_times(fresh_text));
        let off = then
            .iter()
            .zip(&now)
            .find(|(then, now)| (*then - *now).abs() > EXIT_TIME_TOLERANCE)?;
        return Some(format!(
            "listings/{name}.txt is stale: it says the step exited {:.1} s after the signal, \
             a fresh run exits {:.1} s after it; run scripts/listings.sh {name}",
            off.0, off.1
        ));
    }
    let at = committed
        .iter()
        .zip(&fresh)
        .position(|(a, b)| a != b)
        .unwrap_or(committed.len().min(fresh.len()));
    Some(format!(
        "listings/{name}.txt is stale (compared line {}): committed {:?}, a fresh run prints {:?}; \
         run scripts/listings.sh {name}",
        at + 1,
        committed.get(at).map(String::as_str).unwrap_or("<end>"),
        fresh.get(at).map(String::as_str).unwrap_or("<end>"),
    ))
}

pub fn listings_match_a_fresh_run() -> Vec<String> {
    let dir = listings_dir();
    let Ok(entries) = fs::read_dir(&dir) else {
        return vec![format!("{}: no listings directory", dir.display())];
    };
    let mut scenarios: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "scenario"))
        .filter(|path| !is_measured(path))
        .collect();
    scenarios.sort();
    if let Err(err) = build() {
        return vec![err];
    }
    let listing = target_dir().join("debug").join("listing");
    let runs: Vec<(String, thread::JoinHandle<Result<String, String>>)> = scenarios
        .iter()
        .map(|scenario| {
            let name = scenario.file_stem().unwrap().to_string_lossy().into_owned();
            let (listing, scenario) = (listing.clone(), scenario.clone());
            let run = thread::spawn(move || play(&listing, &scenario));
            (name, run)
        })
        .collect();
    let mut problems = Vec::new();
    for (name, run) in runs {
        let fresh = match run.join().expect("a scenario thread") {
            Ok(fresh) => fresh,
            Err(err) => {
                problems.push(format!("listings/{name}.scenario: {err}"));
                continue;
            }
        };
        let committed = fs::read_to_string(dir.join(format!("{name}.txt"))).unwrap_or_default();
        if let Some(problem) = compare(&name, &committed, &fresh) {
            problems.push(problem);
        }
    }
    problems
}

/// A scenario with a `measured` line prints counts and times that vary
/// from run to run: its listing is regenerated, not compared.
fn is_measured(scenario: &Path) -> bool {
    fs::read_to_string(scenario)
        .is_ok_and(|text| text.lines().any(|line| line.trim() == "measured"))
}

fn play(listing: &Path, scenario: &Path) -> Result<String, String> {
    let output = Command::new(listing)
        .arg(scenario)
        .output()
        .map_err(|err| format!("cannot run {}: {err}", listing.display()))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_masked_and_counts_kept() {
        assert_eq!(
            mask_durations("took 12.5ms after 3s, visits=3 exit 143 step2: 1.0 s"),
            "took # after #, visits=3 exit 143 step2: #"
        );
    }

    #[test]
    fn a_changed_line_is_named() {
        let problem = compare("x", "$ a\nINFO b 1.0s\n", "$ a\nINFO c 2.0s\n").unwrap();
        assert!(problem.contains("\"INFO c #\""), "{problem}");
        assert!(compare("x", "$ a\nINFO b 1.0s\n", "$ a\nINFO b 2.5s\n").is_none());
        // A client's output may come before or after the step's lines; a
        // wrapped line reads as one.
        assert!(compare("x", "$ a\ndone\nINFO b\n  c\n", "$ a\nINFO b c\ndone\n").is_none());
        assert!(compare("x", "$ a\nINFO b\nINFO c\n", "$ a\nINFO c\nINFO b\n").is_some());
        assert!(compare("x", "$ a\n$ b\n", "$ b\n$ a\n").is_some());
        // A test run: counts compared, cargo's progress not.
        let run =
            "$ cargo test\n   Compiling x\ntest result: ok. 3 passed; 0 failed; finished in 1.2s\n";
        let warm = "$ cargo test\ntest result: ok. 3 passed; 0 failed; finished in 0.4s\n";
        assert!(compare("x", run, warm).is_none());
        assert!(compare("x", run, &warm.replace("3 passed", "2 passed")).is_some());
        // The exit's time after the signal, within the tolerance.
        let exit = "$ echo $?   # in step3's terminal; step3 exited 2.0 s after the SIGTERM\n1\n";
        assert!(compare("x", exit, &exit.replace("2.0 s", "2.3 s")).is_none());
        let late = compare("x", exit, &exit.replace("2.0 s", "4.0 s")).unwrap();
        assert!(late.contains("exits 4.0 s after it"), "{late}");
    }
}
