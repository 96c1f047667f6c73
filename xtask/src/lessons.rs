//! The workbook's checks.
//!
//! Each lesson's exercise is a binary, `lessonN`, that starts as step N-1.
//! Which checks prove step N is declared once, in `tools::matrix`.
//! The reader turns it into step N and checks it with
//!
//! ```text
//! cargo test -p lessons --test lessonN
//! ```
//!
//! which runs against `lessonN` the very checks (`tools::checks`) that the
//! root `cargo test` runs against `stepN`. What is checked here, for the
//! maintainers, is that the exercises are what the workbook says they are.

use std::{
    fs,
    panic::{UnwindSafe, catch_unwind},
    process::Command,
};

use tools::matrix::{self, Binary, Has, checks_for};

/// The lessons: directory and number. Lesson N starts as step N-1 and is
/// checked with step N's checks.
pub const LESSONS: [(&str, u32); 8] = [
    ("02-catch-the-signal", 2),
    ("03-drain-deadline", 3),
    ("04-second-signal", 4),
    ("05-keep-the-bound", 5),
    ("06-shutdown-in-order", 6),
    ("07-ready-for-a-load-balancer", 7),
    ("08-an-accept-loop-of-our-own", 8),
    ("09-restart-on-a-kept-socket", 9),
];

/// A check of the step lesson `n` starts from, which its exercise as
/// shipped must pass: the first of step `n - 1`'s (a drain, or step 1's
/// broken request).
fn passes_as_shipped(n: u32) {
    let shipped = Binary {
        has: Has::step(n - 1),
        ..matrix::lesson(n)
    };
    let first = checks_for(shipped.has)
        .into_iter()
        .next()
        .expect("every step has a check");
    (first.run)(&shipped);
}

/// The command that checks lesson `n`, as the README and the book print it.
pub fn check_command(n: u32) -> String {
    format!("cargo test -p lessons --test lesson{n}")
}

/// The command that runs lesson `n`.
pub fn run_command(n: u32) -> String {
    format!("cargo run -p lessons --bin lesson{n}")
}

/// The code of a file without its `//!` header and, when `todos` is set,
/// without `// TODO:` comments (a `// TODO:` line and the indented comment
/// lines that continue it).
fn code_of(text: &str, todos: bool) -> Vec<String> {
    let mut code = Vec::new();
    let mut in_todo = false;
    for line in text.lines().filter(|line| !line.starts_with("//!")) {
        let trimmed = line.trim_start();
        if todos && trimmed.starts_with("// TODO:") {
            in_todo = true;
            continue;
        }
        if in_todo && trimmed.starts_with("//  ") {
            continue;
        }
        in_todo = false;
        code.push(line.to_owned());
    }
    while code.first().is_some_and(|line| line.is_empty()) {
        code.remove(0);
    }
    code
}

/// Each exercise is the previous step's code plus `TODO` comments, nothing
/// else: a change to a step must be carried into the lesson that starts
/// from it.
pub fn each_exercise_is_the_previous_step_plus_todos() -> Vec<String> {
    let mut problems = Vec::new();
    for (dir, n) in LESSONS {
        let exercise_file = format!("lessons/{dir}/exercise.rs");
        let step_file = format!("src/bin/step{}.rs", n - 1);
        let (Ok(exercise), Ok(previous)) = (
            fs::read_to_string(&exercise_file),
            fs::read_to_string(&step_file),
        ) else {
            problems.push(format!("cannot read {exercise_file} or {step_file}"));
            continue;
        };
        if !exercise.contains("// TODO:") {
            problems.push(format!("{exercise_file} has no TODO"));
        }
        let (exercise, previous) = (code_of(&exercise, true), code_of(&previous, false));
        if let Some(at) =
            (0..exercise.len().max(previous.len())).find(|&i| exercise.get(i) != previous.get(i))
        {
            problems.push(format!(
                "{exercise_file} differs from {step_file} at code line {}:\n  \
                 exercise: {:?}\n  step:     {:?}",
                at + 1,
                exercise.get(at),
                previous.get(at)
            ));
        }
    }
    problems
}

/// Each lesson has its README with the commands to run and check it, and a
/// quiz the book's chapter includes; the chapter shows the check command.
pub fn each_lesson_has_a_readme_with_its_commands_and_quiz() -> Vec<String> {
    let chapters: Vec<String> = fs::read_dir("book/src")
        .map(|entries| {
            entries
                .filter_map(|entry| fs::read_to_string(entry.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    let mut problems = Vec::new();
    for (dir, n) in LESSONS {
        let file = format!("lessons/{dir}/README.md");
        let Ok(readme) = fs::read_to_string(&file) else {
            problems.push(format!("{file} is missing"));
            continue;
        };
        for command in [check_command(n), run_command(n)] {
            if !readme.contains(&command) {
                problems.push(format!("{file} lacks `{command}`"));
            }
        }
        for marker in ["ANCHOR: quiz", "ANCHOR_END: quiz", "<details>"] {
            if !readme.contains(marker) {
                problems.push(format!("{file} lacks {marker}"));
            }
        }
        let include = format!("{{{{#include ../../lessons/{dir}/README.md:quiz}}}}");
        let check = check_command(n);
        if !chapters
            .iter()
            .any(|text| text.contains(&include) && text.contains(&check))
        {
            problems.push(format!(
                "no chapter shows lesson {n}'s quiz ({include}) and its check (`{check}`)"
            ));
        }
    }
    problems
}

/// Every exercise ships unsolved: it passes a check of the step it starts
/// from, and its own lesson's check fails. A solved exercise, committed by
/// mistake, would tell a reader they are done before they begin.
pub fn each_exercise_ships_unsolved() -> Vec<String> {
    let build = Command::new(cargo())
        .args(["build", "--quiet", "--package", "lessons", "--bins"])
        .status();
    if !build.is_ok_and(|status| status.success()) {
        return vec!["cargo build --package lessons failed (its message is above)".to_owned()];
    }
    let mut problems = Vec::new();
    for (dir, n) in LESSONS {
        if fails(move || passes_as_shipped(n)) {
            problems.push(format!(
                "lessons/{dir}: lesson{n} fails a check of step {}, which it starts as \
                 (its output is above)",
                n - 1
            ));
        }
        let command = check_command(n);
        let mut words = command.split_whitespace();
        let output = Command::new(cargo())
            .args(words.by_ref().skip(1))
            .arg("--quiet")
            .output();
        let Ok(output) = output else {
            problems.push(format!("cannot run `{command}`"));
            continue;
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let summary = stdout
            .lines()
            .find(|line| line.starts_with("test result:"))
            .unwrap_or("no test result");
        match (output.status.success(), summary.contains("FAILED")) {
            (false, true) => {} // unsolved, as shipped
            (true, _) => problems.push(format!(
                "lessons/{dir}: `{command}` passes ({summary}): the exercise ships solved"
            )),
            (false, false) => problems.push(format!(
                "lessons/{dir}: `{command}` did not run its tests:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )),
        }
    }
    problems
}

/// Whether `check` fails (panics).
fn fails(check: impl FnOnce() + UnwindSafe) -> bool {
    catch_unwind(check).is_err()
}

/// The cargo that runs us (`cargo xtask` sets it), or the one on `PATH`.
fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}
