//! A one-line chart of durations over time with the eight block characters, for
//! `volley history NAME`.

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One bar per value, oldest first, scaled between the smallest and largest value.
/// All-equal values draw a flat middle line rather than a wall of full blocks.
pub fn sparkline(values: &[u64]) -> String {
    let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) else {
        return String::new();
    };
    if min == max {
        return values.iter().map(|_| BARS[3]).collect();
    }
    let span = (max - min) as f64;
    values
        .iter()
        .map(|&v| {
            let level = ((v - min) as f64 / span * (BARS.len() - 1) as f64).round() as usize;
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
    fn values_span_the_lowest_to_the_highest_bar() {
        assert_eq!(sparkline(&[0, 1, 2, 3, 4, 5, 6, 7]), "▁▂▃▄▅▆▇█");
        assert_eq!(sparkline(&[10, 80, 10]), "▁█▁");
    }

    #[test]
    fn equal_values_are_a_flat_line() {
        assert_eq!(sparkline(&[5, 5, 5]), "▄▄▄");
    }
}
