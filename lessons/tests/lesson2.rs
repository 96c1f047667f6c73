//! Lesson 2's check: the checks that prove step 2, run against your
//! `lesson2`. The table in `tools/src/matrix.rs` says which; they are the
//! very functions (`tools::checks`) the root `cargo test` runs on `step2`.
//!
//! ```text
//! cargo test -p lessons --test lesson2
//! ```
//!
//! As shipped, the exercise fails its goal checks (its README lists
//! them); that is the point. When they all pass, the lesson is done.

fn main() {
    #[cfg(unix)]
    tools::matrix::run_checks(&[tools::matrix::lesson(2)]);
}
