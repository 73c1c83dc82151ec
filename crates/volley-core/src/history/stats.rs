//! Robust statistics over durations (microseconds): the median and the median
//! absolute deviation. Robust because one outlier run (a cold cache, a busy
//! machine) must not move a task's baseline.

/// The median of `values`; `None` when empty. With an even count, the mean of the
/// two middle values (rounded down), so a baseline of two runs sits between them.
pub fn median(values: &[u64]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 { sorted[mid] } else { sorted[mid - 1].midpoint(sorted[mid]) })
}

/// The median absolute deviation from the median; `None` when empty.
pub fn mad(values: &[u64]) -> Option<u64> {
    let center = median(values)?;
    let deviations: Vec<u64> = values.iter().map(|v| v.abs_diff(center)).collect();
    median(&deviations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_nothing_is_none() {
        assert_eq!(median(&[]), None);
        assert_eq!(mad(&[]), None);
    }

    #[test]
    fn median_of_an_odd_count_is_the_middle_value() {
        assert_eq!(median(&[5, 1, 3]), Some(3));
        assert_eq!(median(&[7]), Some(7));
    }

    #[test]
    fn median_of_an_even_count_is_between_the_middle_values() {
        assert_eq!(median(&[4, 1, 3, 2]), Some(2));
        assert_eq!(median(&[10, 20]), Some(15));
        assert_eq!(median(&[u64::MAX, u64::MAX]), Some(u64::MAX));
    }

    #[test]
    fn one_outlier_does_not_move_the_median_much() {
        assert_eq!(median(&[100, 101, 99, 100, 10_000]), Some(100));
    }

    #[test]
    fn mad_measures_the_typical_spread() {
        // deviations from 100: 0 1 1 0 9900 → median 1
        assert_eq!(mad(&[100, 101, 99, 100, 10_000]), Some(1));
        assert_eq!(mad(&[5, 5, 5]), Some(0));
    }
}
