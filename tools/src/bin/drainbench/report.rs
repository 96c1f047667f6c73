//! The tables and the targets, from the runs.

use std::fmt::Write as _;

use clap::ValueEnum;
use tools::stats::Spread;

/// What the connections are doing when the signal comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Load {
    /// Each connection has had one answer and sits idle, kept alive
    Idle,
    /// Each connection has a `GET /slow` the server has read
    InFlight,
}

/// One stop of one server.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub server: String,
    pub load: Load,
    pub connections: usize,
    /// Answers with a 2xx status: to `GET /health` before the signal
    /// (idle), to `GET /slow` after it (in flight).
    pub answered: usize,
    /// From the signal to the exit.
    pub exit_ms: f64,
    /// From the last answer read to the exit (in flight, when any was
    /// answered); negative if the client read it after the exit.
    pub after_last_ms: Option<f64>,
    pub max_rss_kib: u64,
    /// `0`, `1`, `SIGTERM`, or `hung` (killed by the tool).
    pub exit: String,
}

impl Run {
    /// The line printed as each run ends, and kept with the figures.
    pub fn line(&self) -> String {
        format!(
            "server={} load={} conns={} answered={} exit_ms={:.1} after_last_ms={} rss_kib={} exit={}",
            self.server,
            load_name(self.load),
            self.connections,
            self.answered,
            self.exit_ms,
            self.after_last_ms
                .map_or("-".to_owned(), |ms| format!("{ms:.1}")),
            self.max_rss_kib,
            self.exit,
        )
    }
}

pub fn load_name(load: Load) -> &'static str {
    match load {
        Load::Idle => "idle",
        Load::InFlight => "in-flight",
    }
}

/// Who the targets are measured against.
pub struct References<'a> {
    /// The server that has no handler (step 1): killed by the signal, its
    /// exit is what tearing the process and its connections down costs.
    pub teardown: Option<&'a str>,
    /// The Go pattern.
    pub go: Option<&'a str>,
}

fn runs_of<'a>(
    runs: &'a [Run],
    server: &'a str,
    load: Load,
    connections: usize,
) -> impl Iterator<Item = &'a Run> {
    runs.iter().filter(move |run| {
        run.server == server && run.load == load && run.connections == connections
    })
}

fn spread(runs: &[&Run], value: impl Fn(&Run) -> Option<f64>) -> Option<Spread> {
    let values: Vec<f64> = runs.iter().filter_map(|run| value(run)).collect();
    Spread::of(&values)
}

/// The two tables, one per load, a row per server and number of
/// connections: each cell the median (min-max) over the runs.
pub fn tables(runs: &[Run], servers: &[String], counts: &[usize], loads: &[Load]) -> String {
    let mut out = String::new();
    for &load in loads {
        let heading = match load {
            Load::Idle => "idle: each connection answered once, then SIGTERM",
            Load::InFlight => {
                "in flight: a GET /slow on each connection read by the server, then SIGTERM"
            }
        };
        let _ = writeln!(out, "{heading}");
        let _ = writeln!(
            out,
            "{:<11} {:>5} {:>9}  {:<22} {:<20} {:>8}  exit",
            "server",
            "conns",
            "answered",
            "exit ms after signal",
            if load == Load::InFlight {
                "after last answer"
            } else {
                ""
            },
            "peak MiB"
        );
        for &count in counts {
            for server in servers {
                let these: Vec<&Run> = runs_of(runs, server, load, count).collect();
                if these.is_empty() {
                    continue;
                }
                let worst = these.iter().map(|run| run.answered).min().unwrap_or(0);
                let show =
                    |spread: Option<Spread>| spread.map_or("-".to_owned(), |s| s.to_string());
                let mut exits: Vec<&str> = these.iter().map(|run| run.exit.as_str()).collect();
                exits.sort_unstable();
                exits.dedup();
                let _ = writeln!(
                    out,
                    "{:<11} {:>5} {:>9}  {:<22} {:<20} {:>8}  {}",
                    server,
                    count,
                    format!("{worst}/{count}"),
                    show(spread(&these, |run| Some(run.exit_ms))),
                    show(spread(&these, |run| run.after_last_ms)),
                    spread(&these, |run| Some(run.max_rss_kib as f64 / 1024.0))
                        .map_or("-".to_owned(), |s| format!("{:.1}", s.median)),
                    exits.join(","),
                );
            }
        }
        out.push('\n');
    }
    out.push_str(
        "each cell: median (min-max) over the runs; answered: the fewest in any run;\n\
         peak MiB: the median of the server's peak resident set (VmHWM)\n",
    );
    out
}

/// The targets, each `met` or `MISSED` with what missed it.
pub fn targets(
    runs: &[Run],
    servers: &[String],
    counts: &[usize],
    references: &References<'_>,
) -> String {
    let judged: Vec<&String> = servers
        .iter()
        .filter(|server| {
            Some(server.as_str()) != references.teardown && Some(server.as_str()) != references.go
        })
        .collect();
    let mut out = String::from("targets\n");

    // Every answer, at every scale, in every run.
    let mut short = Vec::new();
    for server in &judged {
        for run in runs.iter().filter(|run| &run.server == *server) {
            if run.answered < run.connections {
                short.push(format!(
                    "{} {} {}: {}/{}",
                    run.server,
                    load_name(run.load),
                    run.connections,
                    run.answered,
                    run.connections
                ));
            }
        }
    }
    short.dedup();
    out.push_str(&verdict("every server answers N of N in every run", &short));

    match references.teardown {
        Some(teardown) => {
            for &count in counts {
                let Some(killed) =
                    median(runs, teardown, Load::Idle, count, |run| Some(run.exit_ms))
                else {
                    continue;
                };
                let limit = 1.2 * killed;
                let missed: Vec<String> = judged
                    .iter()
                    .filter_map(|server| {
                        let exit =
                            median(runs, server, Load::Idle, count, |run| Some(run.exit_ms))?;
                        (exit > limit).then(|| format!("{server} {exit:.1}"))
                    })
                    .collect();
                out.push_str(&verdict(
                    &format!(
                        "idle, {count} conns: exit within 1.2 x {teardown} killed \
                         ({killed:.1} ms): {limit:.1} ms"
                    ),
                    &missed,
                ));
            }
        }
        None => out.push_str("  idle exit within 1.2 x the teardown: no teardown server named\n"),
    }

    match references.go {
        Some(go) => {
            for &count in counts.iter().filter(|&&count| count >= 1000) {
                let Some(go_ms) = median(runs, go, Load::InFlight, count, |run| run.after_last_ms)
                else {
                    continue;
                };
                let limit = go_ms / 5.0;
                let missed: Vec<String> = judged
                    .iter()
                    .filter_map(|server| {
                        let after =
                            median(runs, server, Load::InFlight, count, |run| run.after_last_ms)?;
                        (after > limit).then(|| format!("{server} {after:.1}"))
                    })
                    .collect();
                out.push_str(&verdict(
                    &format!(
                        "in flight, {count} conns: exit after the last answer within \
                         {go} / 5 ({go_ms:.1} ms): {limit:.1} ms"
                    ),
                    &missed,
                ));
            }
        }
        None => {
            out.push_str("  exit after the last answer within Go's / 5: skipped, no Go server\n")
        }
    }
    out
}

fn median(
    runs: &[Run],
    server: &str,
    load: Load,
    count: usize,
    value: impl Fn(&Run) -> Option<f64>,
) -> Option<f64> {
    let these: Vec<&Run> = runs_of(runs, server, load, count).collect();
    spread(&these, value).map(|spread| spread.median)
}

/// `  what: met`, or `MISSED by …`, wrapped within 90 columns.
fn verdict(what: &str, missed: &[String]) -> String {
    let mut text = format!("  {what}: ");
    if missed.is_empty() {
        text.push_str("met");
    } else {
        text.push_str("MISSED by ");
        text.push_str(&missed.join(", "));
    }
    wrap(&text, 88, "      ")
}

/// Breaks `text` at spaces so that no line passes `width`, indenting the
/// lines after the first.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let words = text.trim_start();
    let mut line = text[..text.len() - words.len()].to_owned();
    for word in words.split(' ') {
        if !line.trim().is_empty() && line.len() + 1 + word.len() > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.to_owned();
        } else if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(server: &str, load: Load, connections: usize, exit_ms: f64, after: Option<f64>) -> Run {
        Run {
            server: server.to_owned(),
            load,
            connections,
            answered: connections,
            exit_ms,
            after_last_ms: after,
            max_rss_kib: 10 * 1024,
            exit: "0".to_owned(),
        }
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn a_run_is_one_line_of_fields() {
        let line = run("step2", Load::InFlight, 100, 12.34, Some(3.0)).line();
        assert_eq!(
            line,
            "server=step2 load=in-flight conns=100 answered=100 exit_ms=12.3 \
             after_last_ms=3.0 rss_kib=10240 exit=0"
        );
    }

    #[test]
    fn cells_are_medians_with_ranges_and_the_worst_answer_count() {
        let mut runs = vec![
            run("step2", Load::Idle, 100, 3.0, None),
            run("step2", Load::Idle, 100, 1.0, None),
            run("step2", Load::Idle, 100, 2.0, None),
        ];
        runs[1].answered = 98;
        let table = tables(&runs, &names(&["step2", "absent"]), &[100], &[Load::Idle]);
        let row = table
            .lines()
            .find(|line| line.starts_with("step2"))
            .unwrap();
        assert!(row.contains("98/100"), "{row}");
        assert!(row.contains("2.0 (1.0-3.0)"), "{row}");
        assert!(row.contains("10.0"), "{row}");
        assert!(!table.contains("absent"));
        assert!(table.lines().all(|line| line.len() <= 90), "{table}");
    }

    #[test]
    fn targets_name_what_missed_them() {
        let mut runs = vec![
            run("step1", Load::Idle, 1000, 10.0, None),
            run("step2", Load::Idle, 1000, 11.0, None),
            run("slow", Load::Idle, 1000, 13.0, None),
            run("go", Load::InFlight, 1000, 300.0, Some(250.0)),
            run("step2", Load::InFlight, 1000, 20.0, Some(10.0)),
            run("slow", Load::InFlight, 1000, 90.0, Some(60.0)),
            // Below 1,000 connections the Go target does not apply.
            run("go", Load::InFlight, 100, 300.0, Some(250.0)),
            run("slow", Load::InFlight, 100, 300.0, Some(200.0)),
        ];
        runs[4].answered = 999;
        let servers = names(&["step1", "step2", "slow", "go"]);
        let references = References {
            teardown: Some("step1"),
            go: Some("go"),
        };
        let text = targets(&runs, &servers, &[100, 1000], &references).replace("\n      ", " ");
        assert!(
            text.contains("N of N in every run: MISSED by step2 in-flight 1000: 999/1000"),
            "{text}"
        );
        assert!(
            text.contains("(10.0 ms): 12.0 ms: MISSED by slow 13.0"),
            "{text}"
        );
        assert!(
            text.contains("(250.0 ms): 50.0 ms: MISSED by slow 60.0"),
            "{text}"
        );
        assert!(!text.contains("100 conns"), "{text}");

        let without = References {
            teardown: None,
            go: None,
        };
        let text = targets(&runs, &servers, &[1000], &without);
        assert!(text.contains("skipped, no Go server"), "{text}");
    }

    #[test]
    fn long_verdicts_wrap_within_the_width() {
        let missed: Vec<String> = (0..30).map(|n| format!("server{n} {n}.0")).collect();
        let text = verdict("something", &missed);
        assert!(text.lines().count() > 1);
        assert!(text.lines().all(|line| line.len() <= 90), "{text}");
        assert!(text.starts_with("  something: MISSED by server0 0.0,"));
        assert!(text.lines().skip(1).all(|line| line.starts_with("      ")));
    }
}
