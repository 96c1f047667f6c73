//! What the tests, the workbook and the measuring tools share.
//!
//! - [`harness`]: start a step's binary, read its lines, wait, signal it,
//!   kill it on drop. The one place that starts a step.
//! - [`checks`]: the behaviours the book claims, one function each, run
//!   against any binary: the root tests run them on the steps and the
//!   example, `lessons/tests` on the reader's exercises.
//! - [`matrix`]: which binary has which behaviour, declared once; the
//!   tests are stamped from it.
//! - [`client`]: what a test's client does: requests with `ureq`, and the
//!   few raw-socket moves (half a request line, an idle keep-alive
//!   connection) a client library will not make.
//! - [`http`]: HTTP/1.1 over plain sockets for `loadtest` and `timeline`,
//!   which need to see exactly how each connection ended.
//! - [`load`]: one load client and the verdict on each of its requests,
//!   for `loadtest` (against a step) and `rollout` (through HAProxy).
//! - [`rollout`]: HAProxy in front of a few instances of a step, and a
//!   rolling restart of them under load.
//! - [`stats`]: medians with their ranges, and percentiles, for the
//!   figures.

pub mod checks;
pub mod client;
pub mod harness;
pub mod http;
pub mod load;
pub mod matrix;
pub mod rollout;
pub mod stats;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

/// Reads a duration the way the steps read `SHUTDOWN_TIMEOUT`: `500ms`,
/// `2s`, `1m`.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value.trim())
        .map_err(|_| format!("{value:?}: expected a duration such as 500ms, 2s or 1m"))
}

/// The number in `step4`, so a tool knows which behaviours to expect.
pub fn step_number(step: &str) -> Result<u32, String> {
    step.strip_prefix("step")
        .and_then(|digits| digits.parse().ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{step:?} is not a step: expected step1, step2, …"))
}

/// `1.2345 s` as `1234.5`: milliseconds with one decimal, the unit every
/// figure in the book uses.
pub fn millis(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

/// Builds `step` with `cargo build --release` and returns the executable.
///
/// Cargo does nothing if the binary is up to date, so a tool can call this
/// on every run. Its progress and errors go to our standard error as usual;
/// the artifact list on standard output is how we learn where the binary
/// went, whatever `CARGO_TARGET_DIR` says.
pub fn build_release(step: &str) -> Result<PathBuf, String> {
    // Set when we run under `cargo run`: the same cargo that built us.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // The steps are the workspace's root package, one level up.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    // A first release build takes minutes: say so, or the tool looks hung.
    eprintln!("building {step} (release; a first build takes minutes)");
    let started = std::time::Instant::now();
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--package",
            "bookmarks",
            "--bin",
            step,
        ])
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(&manifest)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("cannot run cargo to build {step}: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo could not build {step} (its message is above)"
        ));
    }
    eprintln!("built {step} in {:.1} s", started.elapsed().as_secs_f64());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == step)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("cargo built {step} but named no executable for it"))
}

/// `2026-05-01T10:00:00.123456Z  INFO step2: shutting down` →
/// `INFO step2: shutting down`. The tools print their own offsets, so the
/// server's wall-clock stamp would only be noise.
pub fn without_timestamp(line: &str) -> &str {
    let trimmed = line.trim_start();
    match trimmed.split_once(char::is_whitespace) {
        Some((first, rest))
            if first.starts_with(|c: char| c.is_ascii_digit()) && first.contains('T') =>
        {
            rest.trim_start()
        }
        _ => trimmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_carry_their_number() {
        assert_eq!(step_number("step4"), Ok(4));
        assert_eq!(step_number("step12"), Ok(12));
        for bad in ["step", "step0", "4", "stepx", "lesson3"] {
            assert!(step_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_read_like_the_steps_read_them() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").unwrap_err().contains("soon"));
    }

    #[test]
    fn timestamps_are_dropped_and_nothing_else() {
        assert_eq!(
            without_timestamp("2026-05-01T10:00:00.123456Z  INFO step2: shutting down"),
            "INFO step2: shutting down"
        );
        assert_eq!(
            without_timestamp("error: invalid PORT=\"x\""),
            "error: invalid PORT=\"x\""
        );
    }
}
