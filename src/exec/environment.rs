//! [`Environment`]: a process's complete environment, kept in the form `execve` takes.
//!
//! Every task of a run shares one base environment (volley's, the dotenv files,
//! `settings.env`) and adds a few variables of its own. std's `Command` would copy
//! all of it into a map and then into new C strings at every spawn: about two hundred
//! allocations for a usual environment, a tenth of volley's own time per task in
//! the 2000-task benchmark. Here the base is rendered once as `NAME=value` strings
//! behind an `Arc`, and a spawn only collects pointers.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

/// A complete environment: a shared base and this process's own variables, which
/// replace the base's of the same name.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    base: Arc<[CString]>,
    own: Vec<CString>,
    /// The first variable that cannot be passed to a process (it contains a NUL
    /// byte); spawning with this environment fails and names it.
    unpassable: Option<OsString>,
}

impl Environment {
    /// An environment of exactly `vars`, whose names are unique.
    pub fn new<K: AsRef<OsStr>, V: AsRef<OsStr>>(vars: impl IntoIterator<Item = (K, V)>) -> Environment {
        let mut unpassable = None;
        let base = vars
            .into_iter()
            .filter_map(|(name, value)| {
                let entry = entry(name.as_ref(), value.as_ref());
                if entry.is_none() {
                    unpassable.get_or_insert_with(|| name.as_ref().to_owned());
                }
                entry
            })
            .collect();
        Environment { base, own: Vec::new(), unpassable }
    }

    /// Sets `name` for this environment only, replacing any earlier value.
    pub fn set(&mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) {
        let name = name.as_ref();
        self.own.retain(|e| !is_named(e, name.as_bytes()));
        match entry(name, value.as_ref()) {
            Some(entry) => self.own.push(entry),
            None => {
                self.unpassable.get_or_insert_with(|| name.to_owned());
            }
        }
    }

    pub fn get(&self, name: impl AsRef<OsStr>) -> Option<&OsStr> {
        let name = name.as_ref().as_bytes();
        let entry = self.own.iter().chain(self.base.iter()).find(|e| is_named(e, name))?;
        Some(OsStr::from_bytes(&entry.as_bytes()[name.len() + 1..]))
    }

    /// Every variable once, as `NAME=value`.
    pub fn entries(&self) -> impl Iterator<Item = &CStr> {
        // Run once per spawn over the whole base: each base entry is compared with the
        // few own names, never scanned for its `=` (that scan was a seventh of the
        // runner's own instructions per task of `true`).
        let own_names: Vec<&[u8]> = self.own.iter().map(|own| entry_name(own)).collect();
        let not_replaced = move |e: &&CString| !own_names.iter().any(|name| is_named(e, name));
        self.base.iter().filter(not_replaced).chain(self.own.iter()).map(CString::as_c_str)
    }

    /// How many entries [`Environment::entries`] yields at most.
    pub fn len_at_most(&self) -> usize {
        self.base.len() + self.own.len()
    }

    /// Every variable once, as name and value.
    pub fn vars(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.entries().map(split)
    }

    /// The name of a variable that cannot be passed to a process, if any.
    pub fn unpassable(&self) -> Option<&OsStr> {
        self.unpassable.as_deref()
    }
}

fn entry(name: &OsStr, value: &OsStr) -> Option<CString> {
    let mut bytes = Vec::with_capacity(name.len() + value.len() + 2);
    bytes.extend_from_slice(name.as_bytes());
    bytes.push(b'=');
    bytes.extend_from_slice(value.as_bytes());
    CString::new(bytes).ok()
}

fn entry_name(entry: &CStr) -> &[u8] {
    split(entry).0.as_bytes()
}

/// `entry` is `name=…`.
fn is_named(entry: &CStr, name: &[u8]) -> bool {
    let bytes = entry.to_bytes();
    bytes.len() > name.len() && bytes[name.len()] == b'=' && bytes.starts_with(name)
}

fn split(entry: &CStr) -> (&OsStr, &OsStr) {
    let bytes = entry.to_bytes();
    let at = bytes.iter().position(|b| *b == b'=').unwrap_or(bytes.len());
    (OsStr::from_bytes(&bytes[..at]), OsStr::from_bytes(bytes.get(at + 1..).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(env: &Environment) -> Vec<String> {
        env.entries().map(|e| e.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn own_variables_replace_the_base_and_appear_once() {
        let base = Environment::new([("A", "1"), ("B", "2")]);
        let mut env = base.clone();
        env.set("B", "own");
        env.set("C", "3");
        env.set("C", "4");
        assert_eq!(names(&env), ["A=1", "B=own", "C=4"]);
        assert_eq!(env.get("B"), Some(OsStr::new("own")));
        assert_eq!(env.get("Z"), None);
        assert_eq!(names(&base), ["A=1", "B=2"], "the shared base is unchanged");
    }

    #[test]
    fn names_that_begin_alike_are_different_variables() {
        let mut env = Environment::new([("VOLLEY", "base"), ("PATHS", "x"), ("PATH", "/bin")]);
        env.set("VOLLEY_TASK", "t");
        env.set("PAT", "own");
        assert_eq!(names(&env), ["VOLLEY=base", "PATHS=x", "PATH=/bin", "VOLLEY_TASK=t", "PAT=own"]);
        assert_eq!(env.get("PATH"), Some(OsStr::new("/bin")));
        assert_eq!(env.get("PA"), None);
        assert_eq!(env.get("VOLLEY"), Some(OsStr::new("base")));
    }

    #[test]
    fn values_may_contain_equals_signs_and_be_empty() {
        let env = Environment::new([("OPTS", "a=b=c"), ("EMPTY", "")]);
        let vars: Vec<_> = env.vars().collect();
        assert_eq!(vars, [(OsStr::new("OPTS"), OsStr::new("a=b=c")), (OsStr::new("EMPTY"), OsStr::new(""))]);
    }

    #[test]
    fn a_nul_byte_is_remembered_not_passed() {
        let mut env = Environment::new([("OK", "1"), ("BAD", "a\0b")]);
        assert_eq!(env.unpassable(), Some(OsStr::new("BAD")));
        env.set("ALSO", "\0");
        assert_eq!(env.unpassable(), Some(OsStr::new("BAD")), "the first one is named");
        assert_eq!(names(&env), ["OK=1"]);
    }
}
