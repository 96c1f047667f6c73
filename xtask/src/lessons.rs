//! The workbook's checks.
//!
//! Each lesson's exercise is a binary, `lessonN`, that starts as step N-1.
//! The reader turns it into step N, then runs
//!
//! ```text
//! cargo test --test lessons lessonN -- --ignored
//! ```
//!
//! which runs against `lessonN` the very suites that `tests/shutdown.rs`
//! runs against `stepN` (shared code in `support/suites.rs`, not copies).
//! They are `#[ignore]`d so that a plain `cargo test` does not fail on the
//! exercises as shipped; what `cargo test` checks instead is that every
//! exercise is shipped unsolved: it behaves as the previous step and fails
//! the new step's check.

#![cfg(unix)]

#[macro_use]
mod support;

use std::panic::{UnwindSafe, catch_unwind};

use support::{Signal, checks};

// ANCHOR: lesson2
mod lesson2 {
    drain_suite!("lesson2", #[ignore = "workbook: cargo test --test lessons lesson2 -- --ignored"]);
}
// ANCHOR_END: lesson2

mod lesson3 {
    drain_suite!("lesson3", #[ignore = "workbook: cargo test --test lessons lesson3 -- --ignored"]);
    deadline_suite!("lesson3", #[ignore = "workbook: cargo test --test lessons lesson3 -- --ignored"]);
}

mod lesson4 {
    drain_suite!("lesson4", #[ignore = "workbook: cargo test --test lessons lesson4 -- --ignored"]);
    deadline_suite!("lesson4", #[ignore = "workbook: cargo test --test lessons lesson4 -- --ignored"]);
    force_suite!("lesson4", #[ignore = "workbook: cargo test --test lessons lesson4 -- --ignored"]);
}

mod lesson5 {
    drain_suite!("lesson5", #[ignore = "workbook: cargo test --test lessons lesson5 -- --ignored"]);
    deadline_suite!("lesson5", #[ignore = "workbook: cargo test --test lessons lesson5 -- --ignored"]);
    force_suite!("lesson5", #[ignore = "workbook: cargo test --test lessons lesson5 -- --ignored"]);
    background_suite!("lesson5", #[ignore = "workbook: cargo test --test lessons lesson5 -- --ignored"]);
}

mod lesson6 {
    drain_suite!("lesson6", #[ignore = "workbook: cargo test --test lessons lesson6 -- --ignored"]);
    deadline_suite!("lesson6", #[ignore = "workbook: cargo test --test lessons lesson6 -- --ignored"]);
    force_suite!("lesson6", #[ignore = "workbook: cargo test --test lessons lesson6 -- --ignored"]);
    background_suite!("lesson6", #[ignore = "workbook: cargo test --test lessons lesson6 -- --ignored"]);
    production_suite!("lesson6", #[ignore = "workbook: cargo test --test lessons lesson6 -- --ignored"]);
}

/// Whether `check` fails (panics).
fn fails(check: impl FnOnce() + UnwindSafe) -> bool {
    catch_unwind(check).is_err()
}

/// Every exercise ships unsolved: it passes a check of the step it starts
/// from, and fails one of the step it must become. Once a reader solves a
/// lesson, the matching test here fails: `git checkout lessons/` restores
/// the exercise.
mod shipped_unsolved {
    use super::*;

    #[test]
    fn lesson2_still_dies_on_a_signal() {
        checks::signal_kills_mid_request("lesson2", Signal::SIGTERM);
        assert!(fails(|| checks::drain_completes_in_flight_request(
            "lesson2",
            Signal::SIGTERM
        )));
    }

    #[test]
    fn lesson3_still_drains_without_a_deadline() {
        checks::stuck_request_holds_the_drain("lesson3");
        assert!(fails(|| checks::deadline_ends_a_stuck_request("lesson3")));
    }

    #[test]
    fn lesson4_still_ignores_a_second_signal() {
        checks::second_signal_does_not_force("lesson4");
        assert!(fails(|| checks::second_signal_forces_exit(
            "lesson4",
            Signal::SIGTERM
        )));
    }

    #[test]
    fn lesson5_still_has_no_background_work() {
        checks::second_signal_forces_exit("lesson5", Signal::SIGTERM);
        assert!(fails(|| checks::buffered_visits_are_flushed("lesson5")));
    }

    #[test]
    fn lesson6_still_has_no_readiness() {
        checks::buffered_visits_are_flushed("lesson6");
        assert!(fails(|| {
            checks::ready_flips_while_serving_through_the_delay("lesson6")
        }));
    }
}

/// The lessons: directory, number, and the step each starts from.
const LESSONS: [(&str, u32); 5] = [
    ("02-catch-the-signal", 2),
    ("03-drain-deadline", 3),
    ("04-second-signal", 4),
    ("05-shutdown-in-order", 5),
    ("06-ready-for-production", 6),
];

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
#[test]
fn each_exercise_is_the_previous_step_plus_todos() {
    for (dir, n) in LESSONS {
        let exercise = std::fs::read_to_string(format!("lessons/{dir}/exercise.rs")).unwrap();
        let previous = std::fs::read_to_string(format!("src/bin/step{}.rs", n - 1)).unwrap();
        assert!(
            exercise.contains("// TODO:"),
            "lessons/{dir}/exercise.rs has no TODO"
        );
        let (exercise, previous) = (code_of(&exercise, true), code_of(&previous, false));
        if let Some(at) =
            (0..exercise.len().max(previous.len())).find(|&i| exercise.get(i) != previous.get(i))
        {
            panic!(
                "lessons/{dir}/exercise.rs differs from src/bin/step{}.rs at code line {}:\n  \
                 exercise: {:?}\n  step:     {:?}",
                n - 1,
                at + 1,
                exercise.get(at),
                previous.get(at)
            );
        }
    }
}

/// Each lesson has its README with the check command, and a quiz the
/// book's chapter can include.
#[test]
fn each_lesson_has_a_readme_with_its_check_and_quiz() {
    for (dir, n) in LESSONS {
        let readme = std::fs::read_to_string(format!("lessons/{dir}/README.md"))
            .unwrap_or_else(|err| panic!("lessons/{dir}/README.md: {err}"));
        let check = format!("cargo test --test lessons lesson{n} -- --ignored");
        assert!(
            readme.contains(&check),
            "lessons/{dir}/README.md lacks `{check}`"
        );
        assert!(
            readme.contains(&format!("cargo run --bin lesson{n}")),
            "{dir}: run command"
        );
        for marker in ["ANCHOR: quiz", "ANCHOR_END: quiz", "<details>"] {
            assert!(
                readme.contains(marker),
                "lessons/{dir}/README.md lacks {marker}"
            );
        }
        let include = format!("{{{{#include ../../lessons/{dir}/README.md:quiz}}}}");
        let chapter = std::fs::read_dir("book/src")
            .unwrap()
            .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default())
            .any(|text| text.contains(&include) && text.contains(&check));
        assert!(
            chapter,
            "no chapter shows lesson {n}'s quiz and check: {include}"
        );
    }
}
