//! Escaping for the three markup-ish formats, and the small number formats every
//! renderer shares. Task and instance names (fan-out items), commands, messages and
//! log lines are user data: they pass through here on their way into any output.

/// Text safe inside HTML/SVG elements and quoted attributes.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` without ANSI escape sequences (colours and cursor movement that task
/// output carries), for pages where they would show as `[31m` noise.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            // CSI: parameters and intermediates up to a final byte in @..=~.
            Some('[') => {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC (titles, hyperlinks): up to BEL or ESC \.
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            _ => {
                chars.next();
            }
        }
    }
    out
}

/// Text safe inside XML 1.0 elements and attributes. Characters XML 1.0 forbids
/// (ANSI escapes' ESC, other C0 controls but tab, LF and CR, lone surrogates cannot
/// occur in a `str`, U+FFFE/U+FFFF) are dropped: CI parsers reject a whole file for one.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Attributes normalise raw newlines to spaces; keep them as references.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote, a line break or
/// leading/trailing spaces, with quotes doubled.
pub fn csv(field: &str) -> String {
    let needs_quotes =
        field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ');
    if needs_quotes { format!("\"{}\"", field.replace('"', "\"\"")) } else { field.to_string() }
}

/// `12.5 MiB`; "–" for a figure that was not recorded.
pub fn bytes(value: Option<i64>) -> String {
    let Some(value) = value else { return "–".to_string() };
    let value = value.max(0) as f64;
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut scaled = value;
    let mut unit = 0;
    while scaled >= 1024.0 && unit < units.len() - 1 {
        scaled /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{value:.0} B") } else { format!("{scaled:.1} {}", units[unit]) }
}

/// A duration for people (as in the run summary); "–" when not recorded.
pub fn duration(us: Option<i64>) -> String {
    us.map_or_else(|| "–".to_string(), |us| volley_core::summary::format_duration(us.max(0) as u64))
}

/// `+25%` / `−40%` for a fractional change.
pub fn change(change: f64) -> String {
    let percent = (change * 100.0).round();
    if percent == 0.0 {
        "±0%".to_string()
    } else if percent < 0.0 {
        format!("−{:.0}%", -percent)
    } else {
        format!("+{percent:.0}%")
    }
}

/// Local wall-clock time of a µs Unix timestamp.
pub fn when(at_us: i64) -> String {
    jiff::Timestamp::from_microsecond(at_us).map_or_else(
        |_| "?".to_string(),
        |t| t.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_every_special_character() {
        assert_eq!(html("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
        assert_eq!(html("&\"'"), "&amp;&quot;&#39;");
        assert_eq!(html("plain-name_1.x"), "plain-name_1.x");
    }

    #[test]
    fn xml_escapes_and_drops_characters_xml_forbids() {
        assert_eq!(xml("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(xml("\u{1b}[31mred\u{1b}[0m"), "[31mred[0m");
        assert_eq!(xml("one\ntwo\tx\u{0}"), "one&#10;two&#9;x");
    }

    #[test]
    fn ansi_sequences_are_stripped() {
        assert_eq!(strip_ansi("\u{1b}[1;31merror\u{1b}[0m: x"), "error: x");
        assert_eq!(strip_ansi("\u{1b}]8;;http://a\u{7}link\u{1b}]8;;\u{1b}\\ done"), "link done");
        assert_eq!(strip_ansi("plain [31m"), "plain [31m");
        assert_eq!(strip_ansi("trailing \u{1b}"), "trailing ");
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        assert_eq!(csv("plain"), "plain");
        assert_eq!(csv(""), "");
        assert_eq!(csv("a,b"), "\"a,b\"");
        assert_eq!(csv("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv("cr\rhere"), "\"cr\rhere\"");
        assert_eq!(csv(" padded"), "\" padded\"");
    }

    #[test]
    fn sizes_and_missing_figures() {
        assert_eq!(bytes(None), "–");
        assert_eq!(bytes(Some(512)), "512 B");
        assert_eq!(bytes(Some(1536)), "1.5 KiB");
        assert_eq!(bytes(Some(3 * 1024 * 1024 * 1024)), "3.0 GiB");
        assert_eq!(duration(None), "–");
        assert_eq!(duration(Some(1_500_000)), "1.5s");
        assert_eq!(change(0.25), "+25%");
        assert_eq!(change(-0.4), "−40%");
    }
}
