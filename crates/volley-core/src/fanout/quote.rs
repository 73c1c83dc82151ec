//! POSIX shell quoting of one word.

/// `s` as one single-quoted `sh` word: `it's` → `'it'\''s'`. Words made only of
/// characters the shell never interprets are returned as they are, which keeps
/// command lines readable in logs and `--dry-run`.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'_' | b'-' | b'.' | b'/' | b',' | b':' | b'@' | b'%' | b'+' | b'=')
        });
    if plain {
        return s.to_string();
    }
    let mut quoted = String::with_capacity(s.len() + 2);
    quoted.push('\'');
    for c in s.chars() {
        if c == '\'' {
            quoted.push_str("'\\''");
        } else {
            quoted.push(c);
        }
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn plain_words_stay_readable() {
        assert_eq!(shell_quote("numpy"), "numpy");
        assert_eq!(shell_quote("a/b-c_1.2"), "a/b-c_1.2");
    }

    #[test]
    fn everything_else_is_single_quoted() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("$(rm -rf ~)"), "'$(rm -rf ~)'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("line\nbreak"), "'line\nbreak'");
    }
}
