//! The maintainers' checks, behind one command:
//!
//! ```text
//! cargo xtask check            # everything below; what CI runs
//! cargo xtask check lessons    # the workbook only
//! cargo xtask check book       # the book only
//! cargo xtask answers          # the lessons' quiz answers, from the listings
//! ```
//!
//! The workbook: every exercise and "break it" is what its lesson says
//! (the step before plus `// TODO:` lines, or the step with skeletons in
//! place of its new idea; the step with one mistake planted), every
//! lesson's README has its commands, its goal and still-true checks, folded
//! hints and a quiz, every goal check fails on the exercise as shipped
//! and passes on the step, and every still-true check passes on the
//! exercise as shipped (in parallel: `RUST_TEST_THREADS`).
//!
//! The book: every include resolves, every step has a chapter, every
//! chapter is in the summary, links land, the stored diffs still turn one
//! step into the next, every listing of a run is what a fresh run of its
//! scenario prints; and the book as mdBook renders it has every heading,
//! no stray code fence, and every image and link target.
//!
//! These are not part of `cargo test`: a reader who solves a lesson would
//! turn it red, and the reader's loop should not wait on them.

mod book;
mod lessons;
mod listings;
mod rendered;

use std::{
    env,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

const USAGE: &str = "usage: cargo xtask check [lessons|book] | cargo xtask answers";

/// A check: what is wrong, one line (or a few) per problem; empty if none.
type Check = fn() -> Vec<String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if args.as_slice() == ["answers"] {
        if let Err(err) = env::set_current_dir(root()) {
            eprintln!("xtask: cannot enter {}: {err}", root().display());
            return ExitCode::FAILURE;
        }
        let problems = lessons::write_answers();
        for problem in &problems {
            eprintln!("{problem}");
        }
        return if problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let (lessons, book) = match args.as_slice() {
        ["check"] => (true, true),
        ["check", "lessons"] => (true, false),
        ["check", "book"] => (false, true),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Every path in the checks is relative to the repository root.
    if let Err(err) = env::set_current_dir(root()) {
        eprintln!("xtask: cannot enter {}: {err}", root().display());
        return ExitCode::FAILURE;
    }
    let mut checks: Vec<(&str, Check)> = Vec::new();
    if book {
        checks.extend([
            (
                "book: includes name existing files and anchors",
                book::includes_name_existing_files_and_anchors as Check,
            ),
            (
                "book: every step has a chapter",
                book::every_step_has_a_chapter,
            ),
            (
                "book: every chapter is in the summary",
                book::every_chapter_is_in_the_summary,
            ),
            (
                "book: links between chapters resolve",
                book::links_between_chapters_resolve,
            ),
            (
                "book: stored diffs match the steps",
                book::stored_diffs_match_the_steps,
            ),
            (
                "book: each lesson's quiz is in a chapter",
                lessons::each_lesson_is_in_a_chapter,
            ),
            (
                "book: the listings of runs match a fresh run",
                listings::listings_match_a_fresh_run,
            ),
            (
                "book: the rendered pages are whole",
                rendered::rendered_pages_are_whole,
            ),
        ]);
    }
    if lessons {
        checks.extend([
            (
                "lessons: each exercise and break-it matches its step",
                lessons::each_exercise_matches_its_step as Check,
            ),
            (
                "lessons: each README has its commands, checks, hints and quiz",
                lessons::each_lesson_has_a_readme,
            ),
            (
                "lessons: each quiz answer is its listing",
                lessons::each_quiz_answer_is_its_listing,
            ),
            (
                "lessons: goal checks fail as shipped and pass on the step, still-true checks pass",
                lessons::goal_checks_fail_as_shipped_and_pass_on_the_step,
            ),
        ]);
    }
    let mut failed = 0;
    for (name, check) in checks {
        let started = Instant::now();
        let problems = check();
        let took = started.elapsed().as_secs_f64();
        if problems.is_empty() {
            println!("ok      {name} ({took:.1} s)");
        } else {
            failed += 1;
            println!("FAILED  {name} ({took:.1} s)");
            for problem in problems {
                println!("        {}", problem.replace('\n', "\n        "));
            }
        }
    }
    if failed > 0 {
        println!("\n{failed} check(s) failed");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The repository root: the workspace this crate belongs to.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}
