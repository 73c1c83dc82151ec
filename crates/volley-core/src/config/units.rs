//! Durations and sizes as users write them: `"500ms"`, `"1h30m"`, `"5GiB"`, `"1.5GB"`.
//!
//! Durations go through jiff's parser, which also accepts `"1h 30m"`, `"5 hours"`,
//! `"1.5s"` and ISO 8601 `"PT1H"`; volley documents those rather than restricting
//! them, and rejects negatives and calendar units (days and up vary in length).
//! Sizes are a small hand-written grammar with exact integer arithmetic, so
//! `"1.5GB"` is exactly 1 500 000 000 bytes. Errors are short phrases meant for a
//! diagnostic label.

use std::time::Duration;

use jiff::SignedDuration;

/// Parses `"500ms"`, `"10s"`, `"2m"`, `"1h30m"` (and the rest of jiff's friendly format).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err("empty duration".to_string());
    }
    if text.starts_with('-') || text.ends_with("ago") {
        return Err("negative durations are not allowed".to_string());
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'_') {
        return Err(format!("`{text}` has no unit"));
    }
    match text.parse::<SignedDuration>() {
        Ok(d) => Duration::try_from(d).map_err(|_| "negative durations are not allowed".to_string()),
        Err(e) if e.to_string().contains("calendar units") => {
            Err("days, weeks, months and years are not supported".to_string())
        }
        Err(_) => Err(format!("`{text}` is not a duration")),
    }
}

const UNITS: [(&str, u64); 9] = [
    ("B", 1),
    ("KB", 1000),
    ("MB", 1000 * 1000),
    ("GB", 1000 * 1000 * 1000),
    ("TB", 1000 * 1000 * 1000 * 1000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

/// Parses `"500MiB"`, `"5GiB"`, `"1.5GB"`, `"1024"` (bytes) into bytes. Units are
/// B, KB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024), matched
/// without regard to case; a space may separate number and unit.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err("empty size".to_string());
    }
    if text.starts_with('-') {
        return Err("negative sizes are not allowed".to_string());
    }
    let number_len = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(number_len);
    let unit = unit.trim_start();
    let Some(&(_, multiplier)) = UNITS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
        .or(if unit.is_empty() { Some(&UNITS[0]) } else { None })
    else {
        return Err(format!("unknown size unit `{unit}`"));
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(format!("`{text}` has no number"));
    }
    if fraction.contains('.') {
        return Err(format!("`{number}` is not a number"));
    }
    if !fraction.is_empty() && multiplier == 1 {
        return Err("a size in bytes must be a whole number".to_string());
    }
    let too_large = || format!("`{text}` is too large");
    let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_large())? };
    // Digits beyond the 18th are below a byte for every unit up to TiB.
    let fraction = &fraction[..fraction.len().min(18)];
    let mut bytes = whole.checked_mul(u128::from(multiplier)).ok_or_else(too_large)?;
    if !fraction.is_empty() {
        let numerator: u128 = fraction.parse().map_err(|_| format!("`{number}` is not a number"))?;
        let scale = 10u128.pow(fraction.len() as u32);
        bytes = bytes.checked_add(numerator * u128::from(multiplier) / scale).ok_or_else(too_large)?;
    }
    u64::try_from(bytes).map_err(|_| too_large())
}

/// A byte count for people: `"512 B"`, `"1.5 GiB"`, `"500 MiB"` (binary units, one decimal).
#[must_use]
pub fn format_size(bytes: u64) -> String {
    const NAMES: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // Compare the rounded value, so 1023.96 KiB shows as "1 MiB", not "1024 KiB".
    while (value * 10.0).round() / 10.0 >= 1024.0 && unit + 1 < NAMES.len() {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}", NAMES[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_spec_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn bad_durations_say_why() {
        assert_eq!(parse_duration("-5s"), Err("negative durations are not allowed".to_string()));
        assert_eq!(parse_duration("5s ago"), Err("negative durations are not allowed".to_string()));
        assert_eq!(parse_duration("10"), Err("`10` has no unit".to_string()));
        assert_eq!(parse_duration(""), Err("empty duration".to_string()));
        assert_eq!(parse_duration("1d"), Err("days, weeks, months and years are not supported".to_string()));
        assert_eq!(parse_duration("soon"), Err("`soon` is not a duration".to_string()));
    }

    #[test]
    fn sizes_in_the_spec_parse() {
        assert_eq!(parse_size("500MiB"), Ok(500 << 20));
        assert_eq!(parse_size("5GiB"), Ok(5 << 30));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("2 kib"), Ok(2048));
        assert_eq!(parse_size("0.5KiB"), Ok(512));
        assert_eq!(parse_size("16EB"), Err("unknown size unit `EB`".to_string()));
        assert_eq!(parse_size("1.5"), Err("a size in bytes must be a whole number".to_string()));
        assert_eq!(parse_size("-1MB"), Err("negative sizes are not allowed".to_string()));
        assert_eq!(parse_size("MiB"), Err("`MiB` has no number".to_string()));
        assert_eq!(parse_size("1.2.3MB"), Err("`1.2.3` is not a number".to_string()));
        assert_eq!(parse_size("99999999TiB"), Err("`99999999TiB` is too large".to_string()));
        assert_eq!(parse_size(&u64::MAX.to_string()), Ok(u64::MAX));
        let huge = format!("{}.5TiB", u128::MAX / (1 << 40));
        assert_eq!(parse_size(&huge), Err(format!("`{huge}` is too large")));
    }

    #[test]
    fn sizes_format_in_binary_units() {
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(1536 << 20), "1.5 GiB");
        assert_eq!(format_size(500 << 20), "500 MiB");
        assert_eq!(format_size((1 << 20) - 1), "1 MiB");
        assert_eq!(format_size(u64::MAX), "16384 PiB");
    }
}
