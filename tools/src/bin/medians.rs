//! Sums up runs: reads the `key=value` summary lines the tools print (one
//! per run), groups them by one key, and prints a table of each field's
//! median (min-max) over the runs. The scripts that run a tool several
//! times (`scripts/overhead.sh`, `scripts/restart-strategies.sh`) end with
//! it.
//!
//! ```not_rust
//! medians --by step --fields rps:0,p50_ms:2,p99_ms:2 < runs.txt
//! ```
//!
//! Groups come in the order they first appear; a field a line lacks, or
//! whose value is not a number (`-`), is left out of that group's figure.

use std::{
    collections::HashMap,
    fmt::Write as _,
    io::{self, Read},
    process::ExitCode,
};

use clap::Parser;
use tools::stats::Spread;

/// Group key=value lines by one key, and print medians (min-max).
#[derive(Debug, Parser)]
#[command(name = "medians")]
struct Options {
    /// The key whose value names a row
    #[arg(long, value_name = "KEY")]
    by: String,
    /// The columns, each KEY or KEY:DECIMALS (default 1)
    #[arg(long, value_name = "KEY[:N],…", value_delimiter = ',', required = true, value_parser = field)]
    fields: Vec<(String, usize)>,
}

fn field(text: &str) -> Result<(String, usize), String> {
    match text.split_once(':') {
        None if !text.is_empty() => Ok((text.to_owned(), 1)),
        Some((key, decimals)) if !key.is_empty() => decimals
            .parse()
            .ok()
            .filter(|&n| n <= 6)
            .map(|n| (key.to_owned(), n))
            .ok_or_else(|| format!("{decimals:?}: decimals are 0 to 6")),
        _ => Err("expected KEY or KEY:DECIMALS".to_owned()),
    }
}

/// The `key=value` pairs of a line; words without `=` are skipped.
fn pairs(line: &str) -> HashMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|word| word.split_once('='))
        .collect()
}

/// The table for `lines`.
fn table(lines: &str, by: &str, fields: &[(String, usize)]) -> String {
    // (row name, values of each field)
    let mut groups: Vec<(String, Vec<Vec<f64>>)> = Vec::new();
    for line in lines.lines() {
        let pairs = pairs(line);
        let Some(&name) = pairs.get(by) else { continue };
        let index = match groups.iter().position(|(known, _)| known == name) {
            Some(index) => index,
            None => {
                groups.push((name.to_owned(), vec![Vec::new(); fields.len()]));
                groups.len() - 1
            }
        };
        for (column, (key, _)) in fields.iter().enumerate() {
            if let Some(value) = pairs.get(key.as_str()).and_then(|v| v.parse::<f64>().ok()) {
                groups[index].1[column].push(value);
            }
        }
    }
    let cells: Vec<Vec<String>> = groups
        .iter()
        .map(|(_, columns)| {
            columns
                .iter()
                .zip(fields)
                .map(|(values, (_, decimals))| {
                    Spread::of(values).map_or("-".to_owned(), |spread| spread.show(*decimals))
                })
                .collect()
        })
        .collect();
    let name_width = groups
        .iter()
        .map(|(name, _)| name.len())
        .chain([by.len()])
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = fields
        .iter()
        .enumerate()
        .map(|(column, (key, _))| {
            cells
                .iter()
                .map(|row| row[column].len())
                .chain([key.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let _ = write!(out, "{by:<name_width$} {:>4}", "runs");
    for ((key, _), width) in fields.iter().zip(&widths) {
        let _ = write!(out, "  {key:<width$}");
    }
    out = out.trim_end().to_owned();
    out.push('\n');
    for ((name, columns), row) in groups.iter().zip(&cells) {
        let runs = columns.iter().map(Vec::len).max().unwrap_or(0);
        let mut line = format!("{name:<name_width$} {runs:>4}");
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, "  {cell:<width$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn main() -> ExitCode {
    let options = Options::parse();
    let mut input = String::new();
    if let Err(err) = io::stdin().read_to_string(&mut input) {
        eprintln!("medians: reading standard input: {err}");
        return ExitCode::FAILURE;
    }
    print!("{}", table(&input, &options.by, &options.fields));
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_options_are_well_formed() {
        Options::command().debug_assert();
        let options =
            Options::try_parse_from(["medians", "--by", "step", "--fields", "rps:0,p50_ms:2,x"])
                .unwrap();
        assert_eq!(
            options.fields,
            [
                ("rps".to_owned(), 0),
                ("p50_ms".to_owned(), 2),
                ("x".to_owned(), 1)
            ]
        );
        for bad in ["rps:x", "rps:9", ":2", ""] {
            assert!(
                Options::try_parse_from(["medians", "--by", "s", "--fields", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn rows_are_groups_in_order_with_medians_and_ranges() {
        let input = "\
step=step7 rps=100 p99_ms=2.0
noise without the key
step=step1 rps=90 p99_ms=-
step=step7 rps=300 p99_ms=1.0
step=step7 rps=200
";
        let out = table(input, "step", &[("rps".into(), 0), ("p99_ms".into(), 1)]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "step  runs  rps            p99_ms");
        assert_eq!(lines[1], "step7    3  200 (100-300)  1.5 (1.0-2.0)");
        assert_eq!(lines[2], "step1    1  90             -");
        assert_eq!(lines.len(), 3);
    }
}
