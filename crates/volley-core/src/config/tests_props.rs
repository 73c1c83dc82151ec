//! No input makes `load` panic: arbitrary text, and valid files with bytes cut,
//! repeated or replaced (which reach deep into the walker with near-valid trees).

use std::path::Path;

use proptest::prelude::*;

use super::test_support::FakeFs;
use super::{Severity, load};

const VALID: &str = r#"[settings]
jobs = 4
shell = ["bash", "-c"]
kill_timeout = "10s"
default = ["build"]
env = { LANG = "C.UTF-8" }
dotenv = ["?.env"]
pools = { network = 3 }
alerts = { min_free_memory = "500MiB", slow_factor = 1.5, regression = 0.2 }

[tasks.build]
run = "make {items}"
deps = ["redis", "setup"]
for_each = { items = ["a", "b"] }
batch = 2
timeout = "1h30m"
success_codes = [0, 1]
pool = "network"
slurm = { cpus = 2, mem = "4G" }

[tasks.setup]
run = "true"
dir = "src"

[services.redis]
run = "redis-server"
ready = { tcp = "127.0.0.1:6380" }
healthcheck = { http = "http://127.0.0.1:80/x", status = 200, retries = 2 }
stop_signal = "SIGINT"
restart = "always"
"#;

fn run(text: &str) {
    let fs = FakeFs::new(&["dir/src"], &["dir/.env"]);
    match load(Path::new("dir/volley.toml"), text, &fs) {
        Ok(project) => {
            let _ = project.warnings.render(false);
        }
        Err(diagnostics) => {
            assert!(diagnostics.iter().any(|d| d.severity == Severity::Error));
            let _ = diagnostics.render(true);
            let _ = diagnostics.render(false);
        }
    }
}

/// Cuts `len` bytes at `at` and inserts `insert` there, on char boundaries.
fn mutate(text: &str, at: usize, len: usize, insert: &str) -> String {
    let floor = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = floor(at);
    let end = floor(start + len);
    format!("{}{insert}{}", &text[..start], &text[end..])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        run(&text);
    }

    #[test]
    fn toml_like_text_never_panics(text in "[\\[\\]{}=\"',.a-z0-9 \\n_-]{0,200}") {
        run(&text);
    }

    #[test]
    fn mutated_valid_file_never_panics(
        at in 0..VALID.len(),
        len in 0usize..12,
        insert in prop::sample::select(vec![
            "", "\"", "[", "]", "{", "}", "=", "\n", "0", "-1", "é", "[tasks.x]\n", "\"\"\"", "{item}",
            "99999999999999999999", "1e400", "true", "\"x\"", ",", "#", "= [", "deps = [\"build\"]\n",
        ]),
    ) {
        run(&mutate(VALID, at, len, insert));
    }
}

#[test]
fn the_fuzzed_base_file_is_valid() {
    let fs = FakeFs::new(&["dir/src"], &[]);
    if let Err(d) = load(Path::new("dir/volley.toml"), VALID, &fs) {
        panic!("{}", d.render(false));
    }
}
