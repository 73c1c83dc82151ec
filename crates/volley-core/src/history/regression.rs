//! Baselines and the regression decision of SPEC §5: a task regressed when its
//! duration grew by more than `alerts.regression` (a fraction of the baseline)
//! **and** beyond the noise of its history (3 × MAD), judged against the median of
//! its previous successful runs.

use super::stats::{mad, median};

/// How many previous successful runs make a baseline.
pub const BASELINE_RUNS: usize = 10;

/// Fewer prior samples than this and there is no verdict: two runs say nothing
/// about noise.
pub const MIN_PRIOR_SAMPLES: usize = 3;

/// Differences below this are process-spawn and timer jitter, whatever the ratio:
/// a 2 ms task taking 4 ms is not a regression anyone should be paged for.
pub const MIN_REGRESSION_US: u64 = 20_000;

/// What a task's history says it usually takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Baseline {
    pub median_us: u64,
    pub mad_us: u64,
    /// How many runs it was taken over.
    #[serde(rename = "runs")]
    pub samples: usize,
}

/// How one duration compares with its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not enough history to judge.
    Unknown,
    Regression,
    Improvement,
    Unchanged,
}

impl Verdict {
    /// Its word in reports.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Unknown => "unknown",
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::Unchanged => "unchanged",
        }
    }
}

impl Baseline {
    /// The baseline of `prior` durations (most recent first); only the first
    /// [`BASELINE_RUNS`] count. `None` when there are none.
    pub fn of(prior: &[u64]) -> Option<Baseline> {
        let recent = &prior[..prior.len().min(BASELINE_RUNS)];
        Some(Baseline { median_us: median(recent)?, mad_us: mad(recent)?, samples: recent.len() })
    }

    /// Judges `duration_us` against this baseline with `threshold` the allowed
    /// fractional growth (`alerts.regression`, 0.20 = 20 %). Improvements mirror
    /// regressions: faster by the same fraction and beyond the same noise.
    pub fn judge(&self, duration_us: u64, threshold: f64) -> Verdict {
        if self.samples < MIN_PRIOR_SAMPLES {
            return Verdict::Unknown;
        }
        let noise = self.mad_us.saturating_mul(3).max(MIN_REGRESSION_US);
        let base = self.median_us as f64;
        let now = duration_us as f64;
        if now > base * (1.0 + threshold) && duration_us.saturating_sub(self.median_us) > noise {
            Verdict::Regression
        } else if now < base * (1.0 - threshold) && self.median_us.saturating_sub(duration_us) > noise {
            Verdict::Improvement
        } else {
            Verdict::Unchanged
        }
    }

    /// `duration_us` relative to the median: 0.25 is 25 % slower.
    pub fn change(&self, duration_us: u64) -> f64 {
        if self.median_us == 0 {
            return 0.0;
        }
        duration_us as f64 / self.median_us as f64 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;

    #[test]
    fn no_history_no_baseline() {
        assert_eq!(Baseline::of(&[]), None);
    }

    #[test]
    fn only_the_ten_most_recent_runs_count() {
        let mut prior = vec![100 * MS; 10];
        prior.extend([900 * MS; 5]);
        let baseline = Baseline::of(&prior).expect("baseline");
        assert_eq!(baseline.median_us, 100 * MS);
        assert_eq!(baseline.samples, 10);
    }

    #[test]
    fn fewer_than_three_samples_give_no_verdict() {
        let baseline = Baseline::of(&[100 * MS, 100 * MS]).expect("baseline");
        assert_eq!(baseline.judge(1000 * MS, 0.2), Verdict::Unknown);
    }

    #[test]
    fn much_slower_than_a_stable_history_is_a_regression() {
        let baseline = Baseline::of(&[100 * MS, 102 * MS, 98 * MS, 101 * MS]).expect("baseline");
        assert_eq!(baseline.judge(500 * MS, 0.2), Verdict::Regression);
        assert_eq!(baseline.judge(110 * MS, 0.2), Verdict::Unchanged);
    }

    #[test]
    fn slower_but_within_the_noise_is_not_a_regression() {
        // Median 200 ms, MAD 100 ms: 30 % slower is well inside 3 × MAD.
        let baseline = Baseline::of(&[100 * MS, 200 * MS, 300 * MS, 150 * MS, 400 * MS]).expect("baseline");
        assert_eq!(baseline.judge(260 * MS, 0.2), Verdict::Unchanged);
        assert_eq!(baseline.judge(900 * MS, 0.2), Verdict::Regression);
    }

    #[test]
    fn tiny_tasks_are_not_judged_on_ratios_alone() {
        let baseline = Baseline::of(&[2 * MS, 2 * MS, 2 * MS]).expect("baseline");
        assert_eq!(baseline.judge(8 * MS, 0.2), Verdict::Unchanged);
    }

    #[test]
    fn much_faster_is_an_improvement() {
        let baseline = Baseline::of(&[500 * MS, 510 * MS, 490 * MS]).expect("baseline");
        assert_eq!(baseline.judge(100 * MS, 0.2), Verdict::Improvement);
        assert!((baseline.change(750 * MS) - 0.5).abs() < 1e-9);
    }
}
