//! The workbook's checks.
//!
//! Each lesson's exercise is a binary, `lessonN`, that the reader turns
//! into step N and checks with
//!
//! ```text
//! cargo test -p lessons --test lessonN
//! ```
//!
//! which runs against `lessonN` the very checks (`tools::checks`) that the
//! root `cargo test` runs against `stepN`. Each lesson also has a "break
//! it" binary, `lessonN-break`: step N with one common mistake planted,
//! checked with `cargo test -p lessons --test lessonN-break`. What is
//! checked here, for the maintainers, is that the exercises are what the
//! workbook says they are.

use std::{
    collections::BTreeSet,
    fs,
    panic::{self, AssertUnwindSafe, catch_unwind},
    process::Command,
    sync::Mutex,
    thread,
    time::Instant,
};

use tools::matrix::{self, Binary, Has, checks_for};

/// How a lesson's exercise starts.
#[derive(Clone, Copy)]
pub enum Start {
    /// The previous step, unchanged but for `// TODO:` comments, and for
    /// comment lines of the step left out where they would tell the answer
    /// (step 3's "`pending()` never completes", in lesson 4).
    PreviousStep,
    /// Step N with its new idea cut out: each `// YOURS: name` …
    /// `// YOURS_END: name` region is a skeleton the reader completes,
    /// where step N has `// ANCHOR: name` … `// ANCHOR_END: name`. The
    /// lesson may also ship files of its own, with the same kind of
    /// regions, where the kit would do that part for the reader.
    Skeleton { own: &'static [Own] },
}

/// A file of a lesson's own, beside its exercise, with `// YOURS:` regions
/// where a kit file has anchors: `(file in the lesson, kit file)`.
#[derive(Clone, Copy)]
pub enum Own {
    /// A part of the kit file: filled, its statements are the kit file's,
    /// in order (lesson 3's cut-off listener).
    PartOf(&'static str, &'static str),
    /// The kit's type wrapped, with a part of it the reader's to write:
    /// each region names an anchor of the kit file (lesson 7's
    /// `Connection: close`, which the kit's `Lifecycle` would add itself).
    Wraps(&'static str, &'static str),
}

/// One lesson: its directory, its number, how its exercise starts, and the
/// check that the mistake planted in its `break-it.rs` fails.
pub struct Lesson {
    pub dir: &'static str,
    pub n: u32,
    pub start: Start,
    /// Checks new in step N that step N-1 passes already (measured: each
    /// must pass on the exercise as shipped): still true, not a goal.
    pub already_true: &'static [&'static str],
    /// Checks step N-1 has too, but which ask more of step N (the table
    /// hands each check what the binary has): they fail on the exercise as
    /// shipped, so they are goals, not still true.
    pub asks_more: &'static [&'static str],
    /// The kit's files that hold this lesson's answer, besides
    /// `src/bin/stepN.rs`: the README names them, before the hints, as
    /// files not to open before trying.
    pub answer_in_kit: &'static [&'static str],
    pub break_fails: &'static str,
}

pub const LESSONS: [Lesson; 8] = [
    Lesson {
        dir: "02-catch-the-signal",
        n: 2,
        start: Start::PreviousStep,
        already_true: &["slow_header_keeps_its_connection"],
        asks_more: &[],
        answer_in_kit: &[],
        break_fails: "sigterm_drains_the_in_flight_request",
    },
    Lesson {
        dir: "03-drain-deadline",
        n: 3,
        start: Start::Skeleton {
            own: &[Own::PartOf("cutoff.rs", "src/shutdown/cutoff.rs")],
        },
        // Without a deadline, nothing ends the drain early either.
        already_true: &["deadline_starts_at_the_signal"],
        asks_more: &[],
        answer_in_kit: &["src/shutdown/cutoff.rs", "src/shutdown/deadline.rs"],
        break_fails: "deadline_starts_at_the_signal",
    },
    Lesson {
        dir: "04-second-signal",
        n: 4,
        start: Start::Skeleton {
            own: &[Own::PartOf("deadline.rs", "src/shutdown/deadline.rs")],
        },
        already_true: &[],
        asks_more: &[],
        answer_in_kit: &["src/shutdown/deadline.rs"],
        break_fails: "second_sigterm_forces_exit",
    },
    Lesson {
        dir: "05-keep-the-bound",
        n: 5,
        start: Start::Skeleton { own: &[] },
        already_true: &[],
        // With a blocking thread and a query in flight: step 4 waits for them.
        asks_more: &["second_sigint_forces_exit", "second_sigterm_forces_exit"],
        answer_in_kit: &["src/shutdown/runtime.rs"],
        break_fails: "deadline_ends_blocking_work",
    },
    Lesson {
        dir: "06-shutdown-in-order",
        n: 6,
        start: Start::Skeleton { own: &[] },
        already_true: &[],
        asks_more: &[],
        answer_in_kit: &[],
        break_fails: "buffered_visits_are_flushed",
    },
    Lesson {
        dir: "07-ready-for-a-load-balancer",
        n: 7,
        start: Start::Skeleton {
            own: &[Own::Wraps("lifecycle.rs", "src/lifecycle.rs")],
        },
        // The kit's `Lifecycle` ends streams and WebSockets at the drain.
        already_true: &[
            "event_stream_ends_with_the_drain",
            "websocket_closes_with_1001",
            "websocket_deaf_to_close_is_cut_at_the_deadline",
        ],
        asks_more: &[],
        answer_in_kit: &["src/lifecycle.rs", "src/shutdown/deadline.rs"],
        break_fails: "ready_flips_while_serving_through_the_delay",
    },
    Lesson {
        dir: "08-an-accept-loop-of-our-own",
        n: 8,
        start: Start::PreviousStep,
        already_true: &[],
        asks_more: &[],
        answer_in_kit: &[],
        break_fails: "idle_keep_alive_does_not_delay_exit",
    },
    Lesson {
        dir: "09-restart-on-a-kept-socket",
        n: 9,
        start: Start::Skeleton {
            own: &[Own::PartOf("inherited.rs", "src/shutdown/systemd.rs")],
        },
        // The configuration reads LISTEN_FDS and LISTEN_PID from step 1 on;
        // the notify messages are wired in the exercise.
        already_true: &["bad_listen_fds_exits_2", "notify_messages_in_order"],
        asks_more: &[],
        answer_in_kit: &["src/shutdown/systemd.rs"],
        break_fails: "inherited_socket_is_served",
    },
];

/// How many code lines a `break-it.rs` may differ from its step by: one
/// mistake, not a rewrite.
const MOST_LINES_A_MISTAKE_CHANGES: usize = 12;

/// The command that checks lesson `n`, as the README and the book print it.
pub fn check_command(n: u32) -> String {
    format!("cargo test -p lessons --test lesson{n}")
}

/// The command that runs lesson `n`.
pub fn run_command(n: u32) -> String {
    format!("cargo run -p lessons --bin lesson{n}")
}

/// The command that checks lesson `n`'s "break it" binary.
pub fn break_command(n: u32) -> String {
    format!("cargo test -p lessons --test lesson{n}-break")
}

fn names(has: Has) -> Vec<&'static str> {
    checks_for(has)
        .into_iter()
        .map(|check| check.name)
        .collect()
}

/// What `lesson` asks for: the checks of step N that step N-1 does not
/// have, but for those it passes already, and those that ask more of step
/// N than of step N-1. Each fails on the exercise as shipped.
pub fn goal_checks(lesson: &Lesson) -> Vec<&'static str> {
    let before = names(Has::step(lesson.n - 1));
    names(Has::step(lesson.n))
        .into_iter()
        .filter(|name| {
            lesson.asks_more.contains(name)
                || (!before.contains(name) && !lesson.already_true.contains(name))
        })
        .collect()
}

/// The checks `lesson` must keep passing: step N-1 has them too, or passes
/// them already. Each passes on the exercise as shipped.
pub fn still_true_checks(lesson: &Lesson) -> Vec<&'static str> {
    let goals = goal_checks(lesson);
    names(Has::step(lesson.n))
        .into_iter()
        .filter(|name| !goals.contains(name))
        .collect()
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

/// Whether `exercise` is `step` with some of its comment lines left out:
/// if not, the index of the first exercise line that does not match, and
/// the step's line there.
fn is_step_less_comments(
    exercise: &[String],
    step: &[String],
) -> Result<(), (usize, Option<String>)> {
    let is_comment = |line: &String| line.trim_start().starts_with("//");
    let mut step = step.iter().peekable();
    for (at, line) in exercise.iter().enumerate() {
        loop {
            match step.next() {
                Some(same) if same == line => break,
                Some(left_out) if is_comment(left_out) => continue,
                other => return Err((at, other.cloned())),
            }
        }
    }
    match step.find(|line| !is_comment(line)) {
        Some(missing) => Err((exercise.len(), Some(missing.clone()))),
        None => Ok(()),
    }
}

/// The lines that do something: no comment, no blank line, no `use` or
/// `mod` declaration (a skeleton needs fewer imports than its solution, and
/// a lesson's own file is a module of the exercise rather than the kit's).
fn statements(text: &str) -> Vec<String> {
    let mut code = Vec::new();
    let mut in_use = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if in_use {
            in_use = !trimmed.ends_with(';');
            continue;
        }
        if trimmed.starts_with("use ") || trimmed.starts_with("pub use ") {
            in_use = !trimmed.ends_with(';');
            continue;
        }
        let is_mod = trimmed.starts_with("mod ") && trimmed.ends_with(';');
        if trimmed.is_empty() || trimmed.starts_with("//") || is_mod {
            continue;
        }
        code.push(trimmed.to_owned());
    }
    code
}

/// `exercise` with each `// YOURS: name` … `// YOURS_END: name` region
/// replaced by `reference`'s `// ANCHOR: name` … `// ANCHOR_END: name`.
fn solve(exercise: &str, reference: &str) -> Result<String, String> {
    let mut solved = Vec::new();
    let mut lines = exercise.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.trim().strip_prefix("// YOURS: ") else {
            solved.push(line.to_owned());
            continue;
        };
        let end = format!("// YOURS_END: {name}");
        if !lines.by_ref().any(|line| line.trim() == end) {
            return Err(format!("`// YOURS: {name}` has no `{end}`"));
        }
        let anchored = anchored(reference, name)
            .ok_or_else(|| format!("the reference has no `// ANCHOR: {name}`"))?;
        solved.extend(anchored);
    }
    Ok(solved.join("\n"))
}

/// The lines between `// ANCHOR: name` and `// ANCHOR_END: name`.
fn anchored(text: &str, name: &str) -> Option<Vec<String>> {
    let (start, end) = (
        format!("// ANCHOR: {name}"),
        format!("// ANCHOR_END: {name}"),
    );
    let mut lines = text.lines().skip_while(|line| line.trim() != start);
    lines.next()?;
    let region: Vec<String> = lines
        .by_ref()
        .take_while(|line| line.trim() != end)
        .map(str::to_owned)
        .collect();
    Some(region)
}

/// How many lines must be removed from `a` and added from `b` to turn one
/// into the other (a longest-common-subsequence diff).
fn lines_changed(a: &[String], b: &[String]) -> usize {
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    a.len() + b.len() - 2 * common[0][0]
}

/// Whether `part` is `whole` with lines left out.
fn is_part_of(part: &[String], whole: &[String]) -> bool {
    let mut whole = whole.iter();
    part.iter().all(|line| whole.any(|other| other == line))
}

fn read(path: &str, problems: &mut Vec<String>) -> Option<String> {
    fs::read_to_string(path)
        .map_err(|err| problems.push(format!("cannot read {path}: {err}")))
        .ok()
}

/// Each exercise is what its lesson says it is, so that a change to a step
/// must be carried into the lessons built on it:
/// - a lesson that starts from the previous step is that step's code plus
///   `// TODO:` comments, nothing else;
/// - a skeleton lesson, its regions filled with step N's anchored code, is
///   step N's code (imports aside), and each file of its own, filled the
///   same way, is a part of the kit file it stands for (or, wrapping the
///   kit's type, has regions that name the kit file's anchors);
/// - `break-it.rs` is step N's code with a few lines changed (one mistake).
pub fn each_exercise_matches_its_step() -> Vec<String> {
    let mut problems = Vec::new();
    for lesson in &LESSONS {
        let (dir, n) = (lesson.dir, lesson.n);
        let exercise_file = format!("lessons/{dir}/exercise.rs");
        let Some(exercise) = read(&exercise_file, &mut problems) else {
            continue;
        };
        if !exercise.contains("// TODO:") {
            problems.push(format!("{exercise_file} has no TODO"));
        }
        match lesson.start {
            Start::PreviousStep => {
                let step_file = format!("src/bin/step{}.rs", n - 1);
                let Some(previous) = read(&step_file, &mut problems) else {
                    continue;
                };
                let (exercise, previous) = (code_of(&exercise, true), code_of(&previous, false));
                if let Err((at, step_line)) = is_step_less_comments(&exercise, &previous) {
                    problems.push(format!(
                        "{exercise_file} differs from {step_file} at code line {}:\n  \
                         exercise: {:?}\n  step:     {:?}",
                        at + 1,
                        exercise.get(at),
                        step_line
                    ));
                }
            }
            Start::Skeleton { own } => {
                let step_file = format!("src/bin/step{n}.rs");
                let Some(step) = read(&step_file, &mut problems) else {
                    continue;
                };
                compare_solved(
                    &exercise_file,
                    &exercise,
                    &step_file,
                    &step,
                    Fits::Whole,
                    &mut problems,
                );
                for own in own {
                    let (file, kit_file, fits) = match *own {
                        Own::PartOf(file, kit) => (file, kit, Fits::Part),
                        Own::Wraps(file, kit) => (file, kit, Fits::Regions),
                    };
                    let file = format!("lessons/{dir}/{file}");
                    let (Some(text), Some(kit)) =
                        (read(&file, &mut problems), read(kit_file, &mut problems))
                    else {
                        continue;
                    };
                    compare_solved(&file, &text, kit_file, &kit, fits, &mut problems);
                }
            }
        }

        let break_file = format!("lessons/{dir}/break-it.rs");
        let step_file = format!("src/bin/step{n}.rs");
        let (Some(broken), Some(step)) = (
            read(&break_file, &mut problems),
            read(&step_file, &mut problems),
        ) else {
            continue;
        };
        let changed = lines_changed(&statements(&broken), &statements(&step));
        if changed == 0 || changed > MOST_LINES_A_MISTAKE_CHANGES {
            problems.push(format!(
                "{break_file} changes {changed} code lines of {step_file}: one planted \
                 mistake is 1 to {MOST_LINES_A_MISTAKE_CHANGES}"
            ));
        }
    }
    problems
}

/// How a file with skeleton regions, filled, must fit its reference.
#[derive(Clone, Copy, PartialEq)]
enum Fits {
    /// The same statements.
    Whole,
    /// Some of them, in order.
    Part,
    /// Only its regions come from the reference: each names an anchor.
    Regions,
}

/// `file` (with skeleton regions), filled from `reference`, against it.
fn compare_solved(
    file: &str,
    text: &str,
    reference_file: &str,
    reference: &str,
    fits: Fits,
    problems: &mut Vec<String>,
) {
    if !text.contains("// YOURS: ") {
        problems.push(format!("{file} has no `// YOURS:` region for the reader"));
    }
    let solved = match solve(text, reference) {
        Ok(solved) => statements(&solved),
        Err(err) => return problems.push(format!("{file}: {err}")),
    };
    let reference = statements(reference);
    if fits == Fits::Whole {
        if let Some(at) =
            (0..solved.len().max(reference.len())).find(|&i| solved.get(i) != reference.get(i))
        {
            problems.push(format!(
                "{file}, its regions filled from {reference_file}, differs from it at \
                 statement {}:\n  exercise: {:?}\n  step:     {:?}",
                at + 1,
                solved.get(at),
                reference.get(at)
            ));
        }
    } else if fits == Fits::Part && !is_part_of(&solved, &reference) {
        problems.push(format!(
            "{file}, its regions filled from {reference_file}, is no longer a part of it"
        ));
    }
}

/// The text between `<!-- name -->` and `<!-- end name -->`.
fn between<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = format!("<!-- {name} -->");
    let end = format!("<!-- end {name} -->");
    let from = text.find(&start)? + start.len();
    let to = from + text[from..].find(&end)?;
    Some(&text[from..to])
}

/// The names in backticks in `text`.
fn backticked(text: &str) -> BTreeSet<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// `text` without its `<details>` blocks: what a reader sees unfolded.
fn unfolded(text: &str) -> String {
    let mut shown = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("<details>") {
        shown.push_str(&rest[..at]);
        rest = rest[at..]
            .find("</details>")
            .map_or("", |end| &rest[at + end..]);
    }
    shown.push_str(rest);
    shown
}

/// How the line begins, at the top of each lesson's README, that says to
/// read it rendered, where the hints are folded.
const FOLD_NOTE: &str = "> Read this page rendered";

/// Each lesson has its README with a note at the top to read it rendered,
/// the commands to run and check it and its "break it", a quiz the book's
/// chapter includes, hints folded away, and the lists of its goal checks
/// and its still-true checks, as the table in `tools::matrix` has them. The
/// files that hold the answer are named once, before the hints, as not to
/// be opened before trying; nowhere else unfolded.
pub fn each_lesson_has_a_readme() -> Vec<String> {
    let mut problems = Vec::new();
    for lesson in &LESSONS {
        let (dir, n) = (lesson.dir, lesson.n);
        let file = format!("lessons/{dir}/README.md");
        let Some(readme) = read(&file, &mut problems) else {
            continue;
        };
        for command in [check_command(n), run_command(n), break_command(n)] {
            if !readme.contains(&command) {
                problems.push(format!("{file} lacks `{command}`"));
            }
        }
        // A terminal shows `<details>` unfolded: the reader is told at the
        // top, before any hint.
        if !readme
            .lines()
            .take(5)
            .any(|line| line.starts_with(FOLD_NOTE))
        {
            problems.push(format!(
                "{file}: its first lines should say, with `{FOLD_NOTE}`, that the hints are \
                 folded only when read rendered"
            ));
        }
        for marker in ["ANCHOR: quiz", "ANCHOR_END: quiz", "<details>"] {
            if !readme.contains(marker) {
                problems.push(format!("{file} lacks {marker}"));
            }
        }
        for (list, expected) in [
            ("goal checks", goal_checks(lesson)),
            ("still-true checks", still_true_checks(lesson)),
        ] {
            let expected: BTreeSet<&str> = expected.into_iter().collect();
            let listed = between(&readme, list).map(backticked);
            if listed.as_ref() != Some(&expected) {
                let lines: Vec<String> =
                    expected.iter().map(|name| format!("- `{name}`")).collect();
                problems.push(format!(
                    "{file}: the {list} should be listed as\n<!-- {list} -->\n{}\n<!-- end {list} -->",
                    lines.join("\n")
                ));
            }
        }
        let (before, now) = (names(Has::step(n - 1)), names(Has::step(n)));
        for name in lesson.asks_more {
            if !before.contains(name) || !now.contains(name) {
                problems.push(format!(
                    "lessons/{dir}: `{name}` asks more of step {n}, yet step {} and step {n} \
                     do not both have it",
                    n - 1
                ));
            }
        }
        // The files that hold the answer are named once, plainly, before
        // the hints, as not to be opened before trying; nowhere else but
        // folded away.
        let answers: BTreeSet<String> = std::iter::once(format!("src/bin/step{n}.rs"))
            .chain(lesson.answer_in_kit.iter().map(|&kit| kit.to_owned()))
            .collect();
        let named: Option<BTreeSet<String>> = between(&readme, "answer files").map(|block| {
            backticked(block)
                .into_iter()
                .filter(|name| name.contains('/') && name.ends_with(".rs"))
                .map(str::to_owned)
                .collect()
        });
        if named.as_ref() != Some(&answers) {
            problems.push(format!(
                "{file}: before its hints, between `<!-- answer files -->` and \
                 `<!-- end answer files -->`, it should name the files that hold the \
                 answer, {answers:?}, as not to be opened before trying"
            ));
        }
        let first_hint = readme.find("<details>").unwrap_or(readme.len());
        if readme
            .find("<!-- answer files -->")
            .is_some_and(|at| at > first_hint)
        {
            problems.push(format!(
                "{file}: the answer files are named after a hint: name them before"
            ));
        }
        let block = between(&readme, "answer files").unwrap_or("");
        let shown = unfolded(&readme.replacen(block, "", 1));
        for answer in &answers {
            let name = answer.rsplit('/').next().unwrap_or(answer);
            let named_as = if answer.starts_with("src/bin/") {
                name
            } else {
                answer
            };
            if shown.contains(named_as) {
                problems.push(format!(
                    "{file} names {named_as} outside a folded <details> and its answer-files \
                     note: the reader should try first"
                ));
            }
        }
    }
    problems
}

/// Each lesson's quiz is in a chapter of the book, with the lesson's check.
pub fn each_lesson_is_in_a_chapter() -> Vec<String> {
    let chapters: Vec<String> = fs::read_dir("book/src")
        .map(|entries| {
            entries
                .filter_map(|entry| fs::read_to_string(entry.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    let mut problems = Vec::new();
    for lesson in &LESSONS {
        let (dir, n) = (lesson.dir, lesson.n);
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

/// One check run against one binary, and whether it must pass.
struct Run {
    binary: Binary,
    check: &'static str,
    must_pass: bool,
    why: String,
}

/// Every exercise ships unsolved and every goal is real: each goal check
/// of lesson N fails on `lessonN` as shipped and passes on `stepN`; every
/// still-true check passes on `lessonN` as shipped (a check of step N-1
/// may ask more of step N: then it is a goal, see [`Lesson::asks_more`]);
/// and the check the planted mistake breaks fails on `lessonN-break` (a
/// check that must fail is given [`TRIES_TO_FAIL`] tries, one that must
/// pass [`TRIES_TO_PASS`]). The runs go in parallel, as the checks wait on
/// processes rather than on the CPU.
pub fn goal_checks_fail_as_shipped_and_pass_on_the_step() -> Vec<String> {
    let build = Command::new(cargo())
        .args(["build", "--quiet", "--package", "lessons", "--package"])
        .arg("bookmarks")
        .arg("--bins")
        .status();
    if !build.is_ok_and(|status| status.success()) {
        return vec!["cargo build of the lessons and the steps failed (see above)".to_owned()];
    }
    let mut runs = Vec::new();
    for lesson in &LESSONS {
        let n = lesson.n;
        for check in goal_checks(lesson) {
            runs.push(Run {
                binary: matrix::lesson(n),
                check,
                must_pass: false,
                why: format!("a goal of lessons/{}, it passes as shipped", lesson.dir),
            });
            runs.push(Run {
                binary: matrix::step(n),
                check,
                must_pass: true,
                why: format!("a goal of lessons/{}, it fails on step{n}", lesson.dir),
            });
        }
        for check in still_true_checks(lesson) {
            runs.push(Run {
                binary: matrix::lesson(n),
                check,
                must_pass: true,
                why: format!("still true in lessons/{}, it fails as shipped", lesson.dir),
            });
        }
        runs.push(Run {
            binary: matrix::lesson_break(n),
            check: lesson.break_fails,
            must_pass: false,
            why: format!(
                "lessons/{}/break-it.rs plants a mistake it passes",
                lesson.dir
            ),
        });
    }
    let total = runs.len();
    let queue = Mutex::new(runs);
    let problems = Mutex::new(Vec::new());
    let took = Mutex::new(Vec::new());
    let quiet = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    thread::scope(|scope| {
        for _ in 0..threads() {
            scope.spawn(|| {
                loop {
                    // Taken in a statement of its own, so that the lock is
                    // not held while the check runs.
                    let next = queue.lock().unwrap().pop();
                    let Some(run) = next else { break };
                    let started = Instant::now();
                    // A check that races may pass once by luck where the
                    // behaviour is missing (no visit answered since the
                    // last periodic flush), or miss a bound on a machine
                    // busy with other work: it is tried again.
                    let tries = if run.must_pass {
                        TRIES_TO_PASS
                    } else {
                        TRIES_TO_FAIL
                    };
                    let mut outcome = run_one(&run);
                    for _ in 1..tries {
                        if outcome.is_ok() == run.must_pass {
                            break;
                        }
                        outcome = run_one(&run);
                    }
                    took.lock().unwrap().push((
                        started.elapsed(),
                        format!("{}::{}", run.binary.name, run.check),
                    ));
                    if outcome.is_ok() != run.must_pass {
                        let detail = outcome.err().unwrap_or_default();
                        problems.lock().unwrap().push(format!(
                            "{}::{}: {}{}",
                            run.binary.name,
                            run.check,
                            run.why,
                            if detail.is_empty() {
                                String::new()
                            } else {
                                format!("\n  {detail}")
                            }
                        ));
                    }
                }
            });
        }
    });
    panic::set_hook(quiet);
    let mut problems = problems.into_inner().unwrap();
    problems.sort();
    let mut took = took.into_inner().unwrap();
    took.sort();
    let slowest: Vec<String> = took
        .iter()
        .rev()
        .take(3)
        .map(|(took, run)| format!("{run} {:.1} s", took.as_secs_f64()))
        .collect();
    println!(
        "        ({total} runs; the slowest: {})",
        slowest.join(", ")
    );
    problems
}

/// How many times a check that must fail is run before its passing is a
/// problem, and a check that must pass before its failing is: a mistake in
/// the table, or a missing behaviour, shows every time.
const TRIES_TO_FAIL: usize = 3;
const TRIES_TO_PASS: usize = 2;

/// Runs one check: `Err` with its message if it failed.
fn run_one(run: &Run) -> Result<(), String> {
    let check = checks_for(run.binary.has)
        .into_iter()
        .find(|check| check.name == run.check)
        .ok_or_else(|| format!("{} has no check {}", run.binary.name, run.check))?;
    catch_unwind(AssertUnwindSafe(|| (check.run)(&run.binary))).map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

/// How many checks run at once: `RUST_TEST_THREADS` (`.cargo/config.toml`
/// sets it), else 16.
fn threads() -> usize {
    std::env::var("RUST_TEST_THREADS")
        .ok()
        .and_then(|threads| threads.parse().ok())
        .unwrap_or(16)
}

/// The cargo that runs us (`cargo xtask` sets it), or the one on `PATH`.
fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The quiz's answers in `readme`: each `<!-- answer: NAME -->` …
/// `<!-- end answer -->` block, with the text between (a fenced listing).
fn answers(readme: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    let mut rest = readme;
    while let Some(at) = rest.find("<!-- answer: ") {
        let after = &rest[at + "<!-- answer: ".len()..];
        let Some(name_end) = after.find(" -->") else {
            break;
        };
        let name = &after[..name_end];
        let body = &after[name_end + " -->".len()..];
        let Some(end) = body.find("<!-- end answer -->") else {
            break;
        };
        found.push((name, &body[..end]));
        rest = &body[end..];
    }
    found
}

/// How an answer block shows listing `text`.
fn answer_block(text: &str) -> String {
    format!("\n```text\n{text}```\n")
}

fn listing_file(name: &str) -> String {
    format!("book/src/listings/{name}.txt")
}

/// Each quiz asks for at least two predictions, and each answer is the
/// listing of its scenario (`book/src/listings/NAME.scenario`), as
/// `scripts/listings.sh` last wrote it: `cargo xtask check book` plays the
/// scenarios again, so an answer cannot go stale.
pub fn each_quiz_answer_is_its_listing() -> Vec<String> {
    let mut problems = Vec::new();
    for lesson in &LESSONS {
        let file = format!("lessons/{}/README.md", lesson.dir);
        let Some(readme) = read(&file, &mut problems) else {
            continue;
        };
        let answers = answers(&readme);
        if answers.len() < 2 {
            problems.push(format!(
                "{file}: {} answers from a run; a quiz asks for two predictions at least",
                answers.len()
            ));
        }
        for (name, shown) in answers {
            let listing = listing_file(name);
            let Some(text) = read(&listing, &mut problems) else {
                continue;
            };
            if shown != answer_block(&text) {
                problems.push(format!(
                    "{file}: the answer {name} is not {listing}: run `cargo xtask answers`"
                ));
            }
        }
    }
    problems
}

/// Writes each quiz answer from its listing (`scripts/listings.sh` calls
/// this after it has written the listings).
pub fn write_answers() -> Vec<String> {
    let mut problems = Vec::new();
    for lesson in &LESSONS {
        let file = format!("lessons/{}/README.md", lesson.dir);
        let Some(readme) = read(&file, &mut problems) else {
            continue;
        };
        let mut written = readme.clone();
        for (name, shown) in answers(&readme) {
            let Some(text) = read(&listing_file(name), &mut problems) else {
                continue;
            };
            let marker = format!("<!-- answer: {name} -->{shown}");
            written = written.replacen(
                &marker,
                &format!("<!-- answer: {name} -->{}", answer_block(&text)),
                1,
            );
        }
        if written != readme {
            if let Err(err) = fs::write(&file, written) {
                problems.push(format!("cannot write {file}: {err}"));
            } else {
                println!("{file}");
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn an_exercise_may_leave_out_comment_lines_of_its_step_and_nothing_else() {
        let step = lines("// why\nlet a = 1;\n// more\nlet b = 2;");
        let check = |exercise: &str| is_step_less_comments(&lines(exercise), &step);
        assert_eq!(check("let a = 1;\nlet b = 2;"), Ok(()));
        assert_eq!(check("// why\nlet a = 1;\n// more\nlet b = 2;"), Ok(()));
        // A statement left out, a comment reworded, the end missing.
        assert!(check("// why\nlet b = 2;").is_err());
        assert!(check("// other\nlet a = 1;\nlet b = 2;").is_err());
        assert!(check("// why\nlet a = 1;").is_err());
    }
}
