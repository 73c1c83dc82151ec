//! `run` strings simple enough to execute without a shell.
//!
//! Like make, volley skips `sh -c` for a command that is nothing but words: the shell
//! would only split it and exec the program, and starting the shell costs about as
//! much as a small task itself (docs/benchmarks.md). A word is made of unquoted
//! characters from a safe set and single-quoted strings, whose contents the shell
//! takes literally; words are separated by spaces or tabs. Anything else (double
//! quotes, `$`, backslashes, globs, redirections, pipes, `;`, `&`, `~`, `#`, braces,
//! newlines), a first word that assigns (`A=b cmd`) or is not a plain path, and a
//! first word that names a shell keyword or builtin leaves the string to the shell.

/// First words the shell treats itself: keywords, builtins without a program of the
/// same name, builtins whose program behaves differently (`echo -e`, `pwd` with
/// symbolic links, `kill %1`). `true` and `false` are in [`BUILTIN_WITH_ARGUMENTS`].
const SHELL_ONLY: &[&str] = &[
    "!",
    ".",
    ":",
    "[",
    "[[",
    "]]",
    "{",
    "}",
    "alias",
    "bg",
    "break",
    "builtin",
    "caller",
    "case",
    "cd",
    "command",
    "compgen",
    "complete",
    "continue",
    "coproc",
    "declare",
    "dirs",
    "disown",
    "do",
    "done",
    "echo",
    "elif",
    "else",
    "enable",
    "esac",
    "eval",
    "exec",
    "exit",
    "export",
    "fc",
    "fg",
    "fi",
    "for",
    "function",
    "getopts",
    "hash",
    "help",
    "history",
    "if",
    "in",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "return",
    "select",
    "set",
    "shift",
    "shopt",
    "source",
    "suspend",
    "test",
    "then",
    "time",
    "times",
    "trap",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "until",
    "wait",
    "while",
];

/// Builtins whose program behaves the same but costs more once given arguments:
/// coreutils' `true ARG` loads the locale to look for `--help`, so `true x` is
/// cheaper in the shell, while a bare `true` is cheaper run directly, as make does
/// (docs/benchmarks.md).
const BUILTIN_WITH_ARGUMENTS: &[&str] = &["true", "false"];

/// The words the default shell (`sh -c`) would execute for `command`: program first,
/// then its arguments. `None` when the shell is needed to interpret it.
pub fn simple_argv(command: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            c if is_plain(c) => {
                in_word = true;
                word.push(c);
            }
            _ => return None,
        }
    }
    if in_word {
        words.push(word);
    }
    let program = words.first()?;
    let plain_program = !program.is_empty()
        && !program.contains('=')
        && (!program.contains('/') || program.starts_with('/'))
        && !SHELL_ONLY.contains(&program.as_str())
        && (words.len() == 1 || !BUILTIN_WITH_ARGUMENTS.contains(&program.as_str()));
    plain_program.then_some(words)
}

/// Characters that mean nothing special to the shell anywhere in a word.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ',' | ':' | '@' | '%' | '+' | '=')
}

#[cfg(test)]
mod tests {
    use super::simple_argv;

    fn words(list: &[&str]) -> Option<Vec<String>> {
        let words: Vec<String> = list.iter().map(|w| (*w).to_string()).collect();
        (!words.is_empty()).then_some(words)
    }

    #[test]
    fn plain_words_are_split_like_the_shell_does() {
        assert_eq!(simple_argv("touch"), words(&["touch"]));
        assert_eq!(simple_argv("  make  -j4\tall "), words(&["make", "-j4", "all"]));
        assert_eq!(simple_argv("/usr/bin/env FOO=1 x"), words(&["/usr/bin/env", "FOO=1", "x"]));
        assert_eq!(simple_argv("rsync -a src/ host:/dst"), words(&["rsync", "-a", "src/", "host:/dst"]));
    }

    #[test]
    fn single_quotes_are_literal_and_join_words() {
        assert_eq!(simple_argv("touch 'a b'"), words(&["touch", "a b"]));
        assert_eq!(simple_argv("grep 'x$(y)`z`;|&' f"), words(&["grep", "x$(y)`z`;|&", "f"]));
        assert_eq!(simple_argv("prog x'y'z ''"), words(&["prog", "xyz", ""]));
        assert_eq!(simple_argv("cat 'unterminated"), None);
    }

    #[test]
    fn anything_the_shell_would_interpret_needs_the_shell() {
        for command in [
            "echo $HOME",
            "ls *.rs",
            "a && b",
            "a | b",
            "a; b",
            "a > out",
            "cat < in",
            "sleep 1 &",
            "ls ~",
            "x # comment",
            "say \"hi\"",
            "a\\ b",
            "a\nb",
            "f {a,b}",
            "(sub)",
            "",
            "   ",
        ] {
            assert_eq!(simple_argv(command), None, "{command:?}");
        }
    }

    #[test]
    fn shell_words_and_relative_programs_need_the_shell() {
        for command in [
            "cd /tmp",
            "export A=1",
            "A=1 make",
            "echo hi",
            "exit 3",
            "./configure",
            "pwd",
            "'cd' x",
            "[ -f x ]",
            "true x",
            "false 1",
        ] {
            assert_eq!(simple_argv(command), None, "{command:?}");
        }
    }

    #[test]
    fn bare_true_and_false_run_directly() {
        assert_eq!(simple_argv("true"), words(&["true"]));
        assert_eq!(simple_argv(" false "), words(&["false"]));
    }
}
