//! A 60 MB line without a newline must not make volley's own memory grow: it is
//! flushed in bounded pieces. Alone in its test binary so that the process's peak
//! resident size (`VmHWM`) measures only this.

use tokio::sync::mpsc::unbounded_channel;
use volley::exec::{Environment, ExecEvent, LocalExecutor, MAX_LINE, SpawnRequest, resolve_program};
use volley_core::event::{AttemptEnd, TaskKey};
use volley_core::graph::UnitId;

const LINE: usize = 60_000_000;

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("number")
}

#[test]
fn huge_single_line_keeps_memory_bounded() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (bytes, pieces, end) = rt.block_on(async {
        let (tx, mut rx) = unbounded_channel();
        let mut exec = LocalExecutor::new(tx, None).expect("executor");
        exec.spawn(SpawnRequest {
            arg0: None,
            key: TaskKey { unit: UnitId(0), instance: 0 },
            program: resolve_program("sh", None).expect("sh"),
            args: vec!["-c".into(), format!("head -c {LINE} /dev/zero | tr '\\0' a").into()],
            env: Environment::new([("PATH", "/usr/bin:/bin")]),
            dir: std::env::temp_dir(),
        })
        .expect("spawn");
        let (mut bytes, mut pieces) = (0, 0);
        loop {
            match rx.recv().await.expect("event") {
                ExecEvent::Output { lines, .. } => {
                    for piece in lines.iter() {
                        assert!(piece.len() <= MAX_LINE, "piece of {} bytes", piece.len());
                        assert!(piece.iter().all(|b| *b == b'a'));
                        bytes += piece.len();
                        pieces += 1;
                    }
                }
                ExecEvent::Exited { end, .. } => return (bytes, pieces, end),
            }
        }
    });
    assert_eq!(end, AttemptEnd::Exited { code: 0 });
    assert_eq!(bytes, LINE);
    assert!(pieces >= LINE / MAX_LINE);
    let peak = peak_rss_kib();
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
    eprintln!("peak RSS {peak} KiB over {pieces} pieces");
}
