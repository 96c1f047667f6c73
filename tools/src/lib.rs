//! What the measurement tools (`loadtest`, `timeline`) share: starting a
//! step's release binary the way a supervisor would, and talking HTTP/1.1 to
//! it over plain sockets.
//!
//! This directory has no `main.rs`, so cargo does not build it as a binary
//! of its own; each tool includes it with `#[path = "../toolkit/mod.rs"]`.

// Each tool uses a different part of the kit.
#![allow(dead_code)]

pub mod http;
pub mod launch;

use std::time::Duration;

/// Reads a duration the way the steps read `SHUTDOWN_TIMEOUT`: `500ms`,
/// `2s`, `1m`.
pub fn parse_duration(option: &str, value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value.trim())
        .map_err(|_| format!("{option} {value:?}: expected a duration such as 500ms, 2s or 1m"))
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
        assert_eq!(
            parse_duration("--x", "250ms"),
            Ok(Duration::from_millis(250))
        );
        assert!(parse_duration("--x", "soon").unwrap_err().contains("--x"));
    }
}
