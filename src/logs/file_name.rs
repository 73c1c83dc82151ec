//! A task or instance name as a file name.
//!
//! Task names are `[A-Za-z0-9_.-]+`, but a fan-out instance `name[item]` carries its
//! item, which may hold `/`, NUL, newlines or be very long. Such bytes become `_`, and
//! because two items could then collide (`a/b` and `a_b`), a changed or cut name gets
//! a short FNV-1a hash of the original. Plain names map to themselves, so
//! `logs/<run>/build.log` is where a person expects it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Longest file-name stem kept, in bytes (file systems allow 255 in all).
const MAX_STEM: usize = 120;

/// The log file name for `name`: `<name>.log`, made safe.
pub fn file_name(name: &str) -> String {
    let mut stem: String = name
        .chars()
        .map(|c| if c == '/' || c == '\\' || c == '\0' || c.is_control() { '_' } else { c })
        .collect();
    let mut changed = stem != name || name.is_empty() || name.starts_with('.');
    if stem.len() > MAX_STEM {
        let mut cut = MAX_STEM;
        while !stem.is_char_boundary(cut) {
            cut -= 1;
        }
        stem.truncate(cut);
        changed = true;
    }
    if changed {
        let _ = write!(stem, "-{:08x}", fnv1a(name.as_bytes()) as u32);
    }
    stem.push_str(".log");
    stem
}

/// FNV-1a, 64 bit: stable across runs and Rust releases, unlike `DefaultHasher`.
/// (Kept here rather than imported: adapters do not depend on each other.)
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Where `name`'s log goes inside a run's log directory.
pub fn log_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(file_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_and_instances_keep_their_names() {
        assert_eq!(file_name("build"), "build.log");
        assert_eq!(file_name("upgrade[requests]"), "upgrade[requests].log");
    }

    #[test]
    fn unsafe_characters_are_replaced_and_hashed() {
        let a = file_name("copy[src/a b]");
        let b = file_name("copy[src_a b]");
        assert!(
            a.starts_with("copy[src_a b]-") && Path::new(&a).extension().is_some_and(|e| e == "log"),
            "{a}"
        );
        assert!(!a.contains('/'));
        assert_ne!(a, b, "distinct names never share a file");
        assert!(!file_name("x[\0\n]").contains(['\0', '\n']));
        assert!(file_name("..").starts_with("..-"), "never a bare `..`");
    }

    #[test]
    fn very_long_names_are_cut_with_a_hash() {
        let long = format!("fetch[{}]", "é".repeat(300));
        let name = file_name(&long);
        assert!(name.len() <= MAX_STEM + 9 + 4, "{}", name.len());
        assert_ne!(name, file_name(&format!("fetch[{}x]", "é".repeat(300))));
    }
}
