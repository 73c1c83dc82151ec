//! A one-line chart of durations over time with the eight block characters, for
//! `volley history NAME`.

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One bar per value, oldest first, each proportional to its value (the tallest is
/// the largest). Proportional rather than min-to-max scaled on purpose: 1 % of
/// jitter must look flat, not like a mountain range.
pub fn sparkline(values: &[u64]) -> String {
    let Some(&max) = values.iter().max() else { return String::new() };
    if max == 0 {
        return values.iter().map(|_| BARS[0]).collect();
    }
    values
        .iter()
        .map(|&v| {
            let level = (v as f64 / max as f64 * (BARS.len() - 1) as f64).round() as usize;
            BARS[level.min(BARS.len() - 1)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_draw_nothing() {
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn bars_are_proportional_to_the_largest_value() {
        assert_eq!(sparkline(&[0, 1, 2, 3, 4, 5, 6, 7]), "▁▂▃▄▅▆▇█");
        assert_eq!(sparkline(&[10, 80, 10]), "▂█▂");
    }

    #[test]
    fn small_jitter_looks_flat() {
        assert_eq!(sparkline(&[100, 101, 99, 100]), "████");
        assert_eq!(sparkline(&[0, 0]), "▁▁");
    }
}
