//! The few statistics the figures use: a median with its range over runs,
//! and percentiles of latencies. Figures from a shared two-core machine
//! scatter; a median and the whole range say how much, a mean would hide
//! it.

use std::{fmt, time::Duration};

/// The median and the extremes of a series of runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub count: usize,
}

impl Spread {
    /// `None` for no values. The median of an even count is the mean of
    /// the middle two, as `scripts/figures.sh` takes it.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[middle]
        } else {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        };
        Some(Spread {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            count: sorted.len(),
        })
    }

    /// As `median (min-max)` with `decimals` places; just the median for a
    /// single run.
    pub fn show(&self, decimals: usize) -> String {
        if self.count == 1 {
            return format!("{:.*}", decimals, self.median);
        }
        format!(
            "{:.*} ({:.*}-{:.*})",
            decimals, self.median, decimals, self.min, decimals, self.max
        )
    }
}

impl fmt::Display for Spread {
    /// One decimal: the milliseconds of every figure in the book.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.show(1))
    }
}

/// The `p`th percentile (0 < p ≤ 100) of `sorted`, by the nearest-rank
/// method: the smallest value with at least p % of the values at or below
/// it. Always one of the values measured, never an interpolation.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_value() {
        let spread = Spread::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((spread.median, spread.min, spread.max), (3.0, 1.0, 5.0));
        assert_eq!(spread.to_string(), "3.0 (1.0-5.0)");
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let spread = Spread::of(&[4.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!(spread.median, 3.0);
        assert_eq!(spread.show(0), "3 (1-10)");
    }

    #[test]
    fn one_run_shows_its_value_and_none_shows_nothing() {
        assert_eq!(Spread::of(&[2.25]).unwrap().show(2), "2.25");
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[f64::NAN]), None);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let ms = |n| Duration::from_millis(n);
        let sorted: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(ms(50)));
        assert_eq!(percentile(&sorted, 99.0), Some(ms(99)));
        assert_eq!(percentile(&sorted, 100.0), Some(ms(100)));
        // Three values: p50 is the second, p99 the third.
        let three = [ms(1), ms(2), ms(30)];
        assert_eq!(percentile(&three, 50.0), Some(ms(2)));
        assert_eq!(percentile(&three, 99.0), Some(ms(30)));
        assert_eq!(percentile(&three, 1.0), Some(ms(1)));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&three, 0.0), None);
    }
}
