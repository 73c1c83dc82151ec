//! The orphan guarantee: if volley dies, even by SIGKILL, its process groups die too.
//!
//! volley starts one helper, `<volley> __watchdog` ([`watchdog_main`]), before the
//! first spawn, with the read end of a pipe as its stdin. It is a plain child started
//! like the tasks ([`super::spawn`]), in its own process group so the terminal's
//! Ctrl-C does not reach it while volley shuts down gracefully, with stdout/stderr on
//! `/dev/null` and cwd `/`. The write end stays in volley only (it is created
//! close-on-exec, so no task inherits it).
//!
//! Protocol, one line each: `+<pgid>` after a group was spawned, `-<pgid>` once volley
//! has killed a finished group, and `bye` on normal shutdown. Registrations are
//! counted, so a `+` for a reused id that overtakes the old `-` is not lost. On EOF
//! without `bye`, volley is gone: the watchdog SIGKILLs every registered group, then
//! every process whose environment carries this run's `VOLLEY_RUN_ID` (passed to it
//! as [`RUN_MARKER_VAR`]), and exits. SIGKILL straight away keeps well within the
//! two-second budget and leaves no window in which an emptied group's id could be
//! reused between two signals.
//!
//! Lines are rate-limited: a line is written at once unless the last write was less
//! than [`BATCH`] ago; then it waits for the next write, at most [`BATCH`] later. In a
//! burst of short tasks that is one write (and one wake-up of the watchdog) per
//! window instead of two per task, which were a fifth of volley's own cost per task.
//! The marker scan covers groups spawned in the last batch window before a SIGKILL;
//! a `-` written up to [`BATCH`] after the leader was reaped cannot name a reused id,
//! since pids are allocated cyclically and a wrap of the pid space takes far longer
//! than that.
//!
//! Limitations: a process that both leaves its group (`setsid`/`setpgid`) and drops
//! `VOLLEY_RUN_ID` from its environment escapes, as does one that does both within
//! the batch window; if the watchdog itself is killed, volley carries on unprotected.
//! Writes are non-blocking with an in-memory backlog, so a stopped watchdog never
//! stalls the runtime.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, BufRead, PipeWriter, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use super::environment::Environment;
use super::group::signal_group;
use super::spawn::Spawner;

/// The hidden subcommand that runs [`watchdog_main`].
pub const WATCHDOG_ARG: &str = "__watchdog";
const BYE: &[u8] = b"bye";
const MAX_LINE: u64 = 64;
/// The longest a registration waits in volley before it is written to the watchdog.
pub const BATCH: Duration = Duration::from_millis(10);
/// The environment variable that tells the watchdog the run id its tasks carry.
pub const RUN_MARKER_VAR: &str = "VOLLEY_WATCHDOG_RUN_ID";

/// volley's end of the watchdog pipe.
#[derive(Debug)]
pub struct WatchdogLink {
    writer: Option<PipeWriter>,
    /// Bytes not yet accepted by the pipe.
    backlog: Vec<u8>,
    last_write: Option<Instant>,
}

impl WatchdogLink {
    /// Starts `<exe> __watchdog` in its own process group, with `null` as stdout and
    /// stderr. Does not wait for it to be ready: registrations queue in the pipe.
    /// `run_id`: the `VOLLEY_RUN_ID` the tasks carry, if any.
    pub fn start(
        spawner: &mut Spawner,
        exe: &Path,
        run_id: Option<&OsStr>,
        null: BorrowedFd<'_>,
    ) -> io::Result<Self> {
        let (reader, writer) = io::pipe()?;
        rustix::io::ioctl_fionbio(&writer, true)?;
        let mut env = Environment::new(std::env::vars_os());
        if let Some(run_id) = run_id {
            env.set(RUN_MARKER_VAR, run_id);
        }
        // The child is not waited for: it exits right after `bye` (or EOF) and is
        // reaped by init once volley exits.
        let argv = [exe.as_os_str(), OsStr::new(WATCHDOG_ARG)];
        spawner.spawn(exe, &argv, &env, Path::new("/"), [reader.as_fd(), null, null])?;
        Ok(WatchdogLink { writer: Some(writer), backlog: Vec::new(), last_write: None })
    }

    /// Sends `+pgid`. Returns true if it was only queued: then the caller must call
    /// [`WatchdogLink::flush`] [`BATCH`] later.
    #[must_use]
    pub fn register(&mut self, pgid: u32) -> bool {
        self.send(b'+', pgid)
    }

    /// Sends `-pgid`; returns true if it was only queued, as [`WatchdogLink::register`].
    #[must_use]
    pub fn deregister(&mut self, pgid: u32) -> bool {
        self.send(b'-', pgid)
    }

    /// Lines are queued and not yet accepted by the pipe.
    pub fn pending(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Normal shutdown: the watchdog exits without killing anything.
    pub fn bye(mut self) {
        self.backlog.extend_from_slice(BYE);
        self.backlog.push(b'\n');
        self.flush();
        // Dropping the writer closes the pipe.
    }

    fn send(&mut self, op: u8, pgid: u32) -> bool {
        self.backlog.push(op);
        self.backlog.extend_from_slice(pgid.to_string().as_bytes());
        self.backlog.push(b'\n');
        if self.last_write.is_some_and(|at| at.elapsed() < BATCH) {
            return true;
        }
        self.flush();
        false
    }

    /// Writes as much of the queue as the pipe takes now.
    pub fn flush(&mut self) {
        self.last_write = Some(Instant::now());
        let Some(writer) = self.writer.as_mut() else {
            self.backlog.clear();
            return;
        };
        while !self.backlog.is_empty() {
            match writer.write(&self.backlog) {
                Ok(n) => {
                    self.backlog.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    // The watchdog is gone (EPIPE): carry on without it.
                    self.writer = None;
                    self.backlog.clear();
                    return;
                }
            }
        }
    }
}

/// Entry point of `volley __watchdog`: reads the protocol from stdin until `bye` or
/// EOF. Returns the process exit code.
pub fn watchdog_main() -> i32 {
    let marker = std::env::var_os(RUN_MARKER_VAR).map(|id| {
        let mut marker = b"VOLLEY_RUN_ID=".to_vec();
        marker.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(id.as_os_str()));
        marker
    });
    let stdin = io::stdin();
    let end = watch(stdin.lock(), |pgid| {
        let _ = signal_group(pgid, libc::SIGKILL);
    });
    match end {
        WatchEnd::Bye => 0,
        WatchEnd::Abandoned { .. } => {
            if let Some(marker) = marker {
                kill_marked(&marker);
            }
            1
        }
    }
}

/// SIGKILLs every process (of ours: others' environments are unreadable) whose
/// environment holds `marker` (`VOLLEY_RUN_ID=<id>`), and its process group when it
/// leads one. Repeated while it finds any, since a process may fork during a pass.
fn kill_marked(marker: &[u8]) {
    let me = std::process::id();
    for _ in 0..5 {
        let mut found = 0;
        let Ok(entries) = std::fs::read_dir("/proc") else { return };
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if pid == me || !environ_has(pid, marker) {
                continue;
            }
            found += 1;
            if signal_group(pid, libc::SIGKILL).ok() != Some(true)
                && let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        if found == 0 {
            return;
        }
    }
}

fn environ_has(pid: u32, marker: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|environ| environ.split(|&b| b == 0).any(|var| var == marker))
}

/// How a watch ended.
#[derive(Debug, PartialEq, Eq)]
pub enum WatchEnd {
    /// volley said goodbye; nothing was killed.
    Bye,
    /// EOF (or a read error) without `bye`: these groups were killed, in order.
    Abandoned { killed: Vec<u32> },
}

/// The watchdog's logic over any reader; `kill` is called once per registered group
/// when the reader ends without `bye`.
pub fn watch(mut reader: impl BufRead, mut kill: impl FnMut(u32)) -> WatchEnd {
    let mut registered: HashMap<u32, u32> = HashMap::new();
    let mut line = Vec::with_capacity(MAX_LINE as usize);
    loop {
        line.clear();
        match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Some(text) = line.strip_suffix(b"\n") else {
            // An over-long line (not ours) or the final bytes before EOF: skip the rest.
            if line.len() as u64 == MAX_LINE && skip_line(&mut reader) {
                continue;
            }
            break;
        };
        if text == BYE {
            return WatchEnd::Bye;
        }
        let Some((&op, digits)) = text.split_first() else { continue };
        let Some(pgid) = std::str::from_utf8(digits).ok().and_then(|d| d.parse::<u32>().ok()) else {
            continue;
        };
        match op {
            b'+' => *registered.entry(pgid).or_default() += 1,
            b'-' => {
                if let Some(count) = registered.get_mut(&pgid) {
                    *count -= 1;
                    if *count == 0 {
                        registered.remove(&pgid);
                    }
                }
            }
            _ => {}
        }
    }
    let mut killed: Vec<u32> = registered.into_keys().collect();
    killed.sort_unstable();
    for &pgid in &killed {
        kill(pgid);
    }
    WatchEnd::Abandoned { killed }
}

/// Discards input up to and including the next `\n`; false at EOF or error.
fn skip_line(reader: &mut impl BufRead) -> bool {
    let mut sink = Vec::new();
    loop {
        sink.clear();
        match reader.take(MAX_LINE).read_until(b'\n', &mut sink) {
            Ok(0) | Err(_) => return false,
            Ok(_) if sink.ends_with(b"\n") => return true,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};

    use super::*;

    fn run(input: &str) -> WatchEnd {
        watch(Cursor::new(input.as_bytes().to_vec()), |_| {})
    }

    #[test]
    fn eof_without_bye_kills_registered_groups() {
        assert_eq!(run("+10\n+20\n+30\n-20\n"), WatchEnd::Abandoned { killed: vec![10, 30] });
    }

    #[test]
    fn bye_kills_nothing() {
        assert_eq!(run("+10\n+20\nbye\n+30\n"), WatchEnd::Bye);
    }

    #[test]
    fn registrations_are_counted() {
        assert_eq!(run("+10\n+10\n-10\n"), WatchEnd::Abandoned { killed: vec![10] });
        assert_eq!(run("+10\n-10\n-10\n+10\n"), WatchEnd::Abandoned { killed: vec![10] });
        assert_eq!(run("-10\n+10\n-10\n"), WatchEnd::Abandoned { killed: vec![] });
    }

    #[test]
    fn garbage_is_ignored() {
        let long = "9".repeat(500);
        let input = format!("hello\n+\n+x\n+{long}\n*5\n\n+7\nby\n+8");
        assert_eq!(run(&input), WatchEnd::Abandoned { killed: vec![7] });
    }

    fn sleep_group() -> Child {
        Command::new("sleep").arg("100").process_group(0).spawn().expect("spawn sleep")
    }

    fn killed_by_sigkill(child: &mut Child) -> bool {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status.signal() == Some(libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    fn watch_real(input: String) -> WatchEnd {
        watch(Cursor::new(input.into_bytes()), |pgid| {
            let _ = signal_group(pgid, libc::SIGKILL);
        })
    }

    #[test]
    fn real_groups_are_killed_on_eof_and_spared_on_bye() {
        let mut kept = sleep_group();
        let mut dropped = sleep_group();
        let mut victim = sleep_group();
        let input = format!("+{}\n+{}\n+{}\n-{}\n", kept.id(), dropped.id(), victim.id(), dropped.id());
        // `kept` is spared by a bye, `dropped` by its deregistration.
        assert_eq!(watch_real(format!("+{}\nbye\n", kept.id())), WatchEnd::Bye);
        let end = watch_real(input.replace(&format!("+{}\n", kept.id()), ""));
        assert_eq!(end, WatchEnd::Abandoned { killed: vec![victim.id()] });
        assert!(killed_by_sigkill(&mut victim));
        assert!(kept.try_wait().expect("try_wait").is_none());
        assert!(dropped.try_wait().expect("try_wait").is_none());
        for mut child in [kept, dropped] {
            child.kill().expect("kill");
            child.wait().expect("wait");
        }
    }
}
