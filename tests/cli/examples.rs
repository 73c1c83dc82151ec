//! The examples shipped in `examples/`, run end to end on a copy.

use std::path::Path;

use crate::support::Test;

pub fn copy_example(name: &str) -> Test {
    let test = Test::new();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name);
    copy_dir(&source, test.dir.path());
    test
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read example").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[test]
fn installer_runs_with_its_allowed_failure() {
    let test = copy_example("installer").args(&["run"]);
    let run = test.run();
    run.code(0).stdout_has("✓ symlinks").stdout_has("✗ optional-apps exit 3").stdout_has("rust-toolchain");
    assert!(test.path("out/home/.bashrc").exists(), "dotfiles linked");
}

#[test]
fn site_build_renders_pages_in_parallel_and_sequentially() {
    for extra in [&[][..], &["--no-parallel"][..]] {
        let test = copy_example("site-build").args(&["run"]).args(extra);
        test.run().code(0).stdout_has("✓ build");
        let index = test.read("public/index.html");
        assert!(index.contains("<h1>Home</h1>"), "{index}");
        assert!(test.read("public/site.js").contains("gallery"));
    }
}
