//! A panic anywhere ends volley.
//!
//! tokio catches a panic in a spawned task and lets everything else go on: the task
//! supervising an attempt would vanish, and the run would wait for that attempt's
//! end forever. A panic is a bug in volley, so after the usual message volley exits
//! at once with [`INTERNAL_ERROR`]; its watchdog then ends every process group the
//! run had started, as after a crash.

use super::exit::INTERNAL_ERROR;

/// Makes any panic, on any thread, print its message and end the process.
pub fn end_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        eprintln!("volley: internal error (a bug in volley; please report it): stopping everything");
        std::process::exit(INTERNAL_ERROR);
    }));
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::*;

    const CHILD: &str = "VOLLEY_TEST_PANIC_CHILD";

    /// Run by [`a_panic_in_a_runtime_task_ends_the_process`] in a process of its own:
    /// a task panics while the runtime waits for something that never comes.
    #[test]
    #[ignore = "run as a child process by a_panic_in_a_runtime_task_ends_the_process"]
    fn panicking_task_in_a_child_process() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        end_on_panic();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let task = tokio::spawn(async { panic!("a bug in a supervising task") });
            drop(task);
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
    }

    #[test]
    fn a_panic_in_a_runtime_task_ends_the_process() {
        let started = Instant::now();
        let output = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "cli::panic::tests::panicking_task_in_a_child_process",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .expect("run the child");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(INTERNAL_ERROR), "{stderr}");
        assert!(stderr.contains("a bug in a supervising task"), "{stderr}");
        assert!(stderr.contains("volley: internal error"), "{stderr}");
        assert!(started.elapsed() < Duration::from_secs(20), "the child waited {:?}", started.elapsed());
    }
}
