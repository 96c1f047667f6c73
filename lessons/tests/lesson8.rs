//! Lesson 8's check: the checks that prove step 8, run against your
//! `lesson8`. The table in `tools/src/matrix.rs` says which; they are the
//! very functions (`tools::checks`) the root `cargo test` runs on `step8`.
//!
//! ```text
//! cargo test -p lessons --test lesson8
//! ```
//!
//! As shipped, the exercise fails its goal checks (its README lists
//! them); that is the point. When they all pass, the lesson is done.

fn main() {
    #[cfg(unix)]
    tools::matrix::run_checks(&[tools::matrix::lesson(8)]);
}
