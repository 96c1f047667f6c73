//! Configuration from the environment, read once at start.
//!
//! The policy: **every variable is checked by every step.** Each step calls
//! [`Config::from_env`], which reads and checks all of them, including those
//! the step has no use for (step 1 has no drain deadline, steps 1 to 5 no
//! workers and no log file, steps 1 to 8 no inherited socket). So a typo
//! fails the same way whichever step runs, and moving on to the next step
//! never turns a setting that was accepted into one that is refused.
//! Checking means the value's form; a step that uses `LOG_FILE` (6 on) also
//! opens the file, and step 9, which serves the socket `LISTEN_FDS` names,
//! also checks that there is exactly one and that `LISTEN_PID` is its own.
//! `NOTIFY_SOCKET` is a path that only step 9 writes to: any value is
//! well-formed.
//!
//! A bad value is one line on standard error that names the variable, and
//! exit status 2 ([`StartupError::report`]).

use std::{
    env, fmt,
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    time::Duration,
};

use crate::{StartupError, shutdown::accept::Timeouts};

/// The settings every step understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `HOST`: the address to bind.
    pub host: IpAddr,
    /// `PORT`: `0` asks the operating system for a free port, which is what
    /// the tests do; the real port is logged in `server starting`.
    pub port: u16,
    /// `DATABASE_URL`: a SQLite file, or `:memory:`.
    pub database_url: String,
    /// `SHUTDOWN_TIMEOUT`: how long the drain may take, counted from the
    /// signal.
    pub shutdown_timeout: Duration,
    /// `SHUTDOWN_DELAY` (step 7): how long to keep serving after the signal,
    /// answering `/ready` with 503, before the drain starts.
    pub shutdown_delay: Duration,
    /// `HEADER_TIMEOUT`, `BODY_TIMEOUT`, `IDLE_TIMEOUT` (step 8, `10s`
    /// each): bounds on slow and silent clients in normal operation, applied
    /// by [`crate::shutdown::accept`]. The three are equal on purpose: hyper
    /// starts its header timer as soon as an HTTP/1 connection waits for its
    /// next request, so an idle keep-alive connection is closed at
    /// `HEADER_TIMEOUT` anyway; a longer idle default would promise what
    /// HTTP/1 does not do. A body may pause as long as a head may take.
    pub timeouts: Timeouts,
    /// `FLUSH_INTERVAL` (step 6): how often buffered visits are written to
    /// the database.
    pub flush_interval: Duration,
    /// `CHECK_INTERVAL` (step 6): how often the link checker starts a pass
    /// over the bookmarks.
    pub check_interval: Duration,
    /// `CHECK_DELAY` (step 6): how long checking one link takes, standing in
    /// for the request a real checker would send.
    pub check_delay: Duration,
    /// `LOG_FILE` (step 6, unset by default): a file the logs also go to.
    pub log_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8080,
            database_url: "bookmarks.db".to_owned(),
            shutdown_timeout: Duration::from_secs(10),
            shutdown_delay: Duration::ZERO,
            timeouts: Timeouts {
                header: Duration::from_secs(10),
                body: Duration::from_secs(10),
                idle: Duration::from_secs(10),
            },
            flush_interval: Duration::from_secs(1),
            check_interval: Duration::from_secs(60),
            check_delay: Duration::from_millis(100),
            log_file: None,
        }
    }
}

/// A variable that is set but cannot be used. Its `Display` is the one line
/// the binary prints before it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    variable: &'static str,
    value: String,
    expected: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {}={:?}: expected {}",
            self.variable, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and checks every variable of the process environment.
    pub fn from_env() -> Result<Config, StartupError> {
        Config::from_lookup(|name| env::var(name).ok()).map_err(|err| StartupError(err.to_string()))
    }

    /// Reads settings through `lookup`, so tests can pass a map instead of
    /// mutating the process environment.
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let defaults = Config::default();
        // A zero interval would make tokio's timer panic.
        let interval = |variable| {
            parse(
                &lookup,
                variable,
                "a duration such as 500ms, 2s or 1m, above 0 and at most 24h",
                |v| duration(v).filter(|d| !d.is_zero()),
            )
        };
        Ok(Config {
            host: parse(
                &lookup,
                "HOST",
                "an IP address such as 127.0.0.1 or ::",
                |v| v.parse().ok(),
            )?
            .unwrap_or(defaults.host),
            port: parse(&lookup, "PORT", "a port number from 0 to 65535", |v| {
                v.parse().ok()
            })?
            .unwrap_or(defaults.port),
            database_url: parse(&lookup, "DATABASE_URL", "a file path or :memory:", |v| {
                (!v.is_empty()).then(|| v.to_owned())
            })?
            .unwrap_or(defaults.database_url),
            shutdown_timeout: parse(
                &lookup,
                "SHUTDOWN_TIMEOUT",
                "a duration such as 500ms, 2s or 1m, at most 24h",
                duration,
            )?
            .unwrap_or(defaults.shutdown_timeout),
            shutdown_delay: parse(
                &lookup,
                "SHUTDOWN_DELAY",
                "a duration such as 0s, 5s or 1m, at most 24h",
                duration,
            )?
            .unwrap_or(defaults.shutdown_delay),
            timeouts: timeouts(&lookup, defaults.timeouts)?,
            flush_interval: interval("FLUSH_INTERVAL")?.unwrap_or(defaults.flush_interval),
            check_interval: interval("CHECK_INTERVAL")?.unwrap_or(defaults.check_interval),
            check_delay: parse(
                &lookup,
                "CHECK_DELAY",
                "a duration such as 0s, 100ms or 1s, at most 24h",
                duration,
            )?
            .unwrap_or(defaults.check_delay),
            log_file: parse(&lookup, "LOG_FILE", "a file path", |v| {
                (!v.is_empty()).then(|| PathBuf::from(v))
            })?,
        })
        .and_then(|config| {
            // Their form only: whether the socket is ours is step 9's check.
            parse(
                &lookup,
                "LISTEN_FDS",
                "a count of sockets, such as 1",
                |v| v.parse::<u32>().ok(),
            )?;
            parse(&lookup, "LISTEN_PID", "a process id", |v| {
                v.parse::<u32>().ok()
            })?;
            Ok(config)
        })
    }
}

/// `HEADER_TIMEOUT`, `BODY_TIMEOUT` and `IDLE_TIMEOUT`.
fn timeouts(
    lookup: &impl Fn(&str) -> Option<String>,
    defaults: Timeouts,
) -> Result<Timeouts, ConfigError> {
    // Zero would close every connection at once.
    let timeout = |variable| {
        parse(
            lookup,
            variable,
            "a duration such as 500ms, 10s or 1m, above 0 and at most 24h",
            |v| duration(v).filter(|d| !d.is_zero()),
        )
    };
    Ok(Timeouts {
        header: timeout("HEADER_TIMEOUT")?.unwrap_or(defaults.header),
        body: timeout("BODY_TIMEOUT")?.unwrap_or(defaults.body),
        idle: timeout("IDLE_TIMEOUT")?.unwrap_or(defaults.idle),
    })
}

/// The longest duration any setting takes. Beyond it a typo (`10000h`)
/// is likelier than intent, and far enough beyond it, adding the duration
/// to the clock would overflow.
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// A duration as people write them (`500ms`, `2s`, `1m`), up to a day.
fn duration(text: &str) -> Option<Duration> {
    humantime::parse_duration(text)
        .ok()
        .filter(|d| *d <= MAX_DURATION)
}

fn parse<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    expected: &'static str,
    convert: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, ConfigError> {
    let Some(value) = lookup(variable) else {
        return Ok(None);
    };
    match convert(value.trim()) {
        Some(parsed) => Ok(Some(parsed)),
        None => Err(ConfigError {
            variable,
            value,
            expected,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = config(&[]).unwrap();
        assert_eq!(config.host.to_string(), "127.0.0.1");
        assert_eq!(config.port, 8080);
        assert_eq!(config.database_url, "bookmarks.db");
        assert_eq!(config.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(config.shutdown_delay, Duration::ZERO);
        assert_eq!(config.flush_interval, Duration::from_secs(1));
        assert_eq!(config.check_interval, Duration::from_secs(60));
        assert_eq!(config.check_delay, Duration::from_millis(100));
        assert_eq!(config.log_file, None);
        let ten = Duration::from_secs(10);
        assert_eq!(
            config.timeouts,
            Timeouts {
                header: ten,
                body: ten,
                idle: ten
            }
        );
    }

    #[test]
    fn timeouts_are_read_and_checked() {
        let set = config(&[
            ("HEADER_TIMEOUT", "200ms"),
            ("BODY_TIMEOUT", "1s"),
            ("IDLE_TIMEOUT", "2m"),
        ])
        .unwrap();
        assert_eq!(set.timeouts.header, Duration::from_millis(200));
        assert_eq!(set.timeouts.body, Duration::from_secs(1));
        assert_eq!(set.timeouts.idle, Duration::from_secs(120));
        for variable in ["HEADER_TIMEOUT", "BODY_TIMEOUT", "IDLE_TIMEOUT"] {
            for value in ["soon", "0s", "25h", "-1s"] {
                let err = config(&[(variable, value)]).unwrap_err();
                assert_eq!(err.variable, variable, "{value}");
            }
        }
    }

    #[test]
    fn durations_read_like_humans_write_them() {
        for (text, expected) in [
            ("500ms", Duration::from_millis(500)),
            ("2s", Duration::from_secs(2)),
            ("1m", Duration::from_secs(60)),
        ] {
            let config = config(&[("SHUTDOWN_TIMEOUT", text)]).unwrap();
            assert_eq!(config.shutdown_timeout, expected, "{text}");
        }
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (variable, value) in [
            ("HOST", "localhost:80"),
            ("PORT", "abc"),
            ("PORT", "70000"),
            ("DATABASE_URL", ""),
            ("SHUTDOWN_TIMEOUT", "soon"),
            ("SHUTDOWN_DELAY", "later"),
            ("SHUTDOWN_TIMEOUT", "500000000000y"),
            ("SHUTDOWN_DELAY", "25h"),
            ("FLUSH_INTERVAL", "soon"),
            ("FLUSH_INTERVAL", "0s"),
            ("CHECK_INTERVAL", "often"),
            ("CHECK_DELAY", "-1s"),
            ("LOG_FILE", ""),
            ("LISTEN_FDS", "abc"),
            ("LISTEN_PID", "me"),
        ] {
            let err = config(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable);
            assert!(
                err.to_string().starts_with(&format!("invalid {variable}=")),
                "{err}"
            );
        }
    }
}
