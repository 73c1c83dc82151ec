//! The orphan guarantee: if volley dies, even by SIGKILL, its process groups die too.
//!
//! [`WatchdogLink::fork`] forks a helper process, the watchdog, that reads a pipe
//! from volley. It is forked, not executed: a fork of volley while it is still
//! small costs about a tenth of a millisecond, where starting the 40 MB binary
//! again (`exec`, dynamic linking, Rust's start-up) took about a millisecond of CPU
//! beside the first task, a fifth of a one-task run (docs/benchmarks.md). The
//! child runs ordinary Rust code on a copy of volley's memory, which is sound only
//! if no other thread held a lock at the fork, so the fork is refused unless volley
//! has a single thread: callers fork before the event loop, the output and recorder
//! threads, and any services thread. The child moves to its own process group, so
//! the terminal's Ctrl-C does not reach it while volley shuts down gracefully; keeps
//! the pipe as stdin, `/dev/null` as stdout and stderr and no other descriptor (it
//! must not hold volley's stdout open for a pipeline, nor the history); moves to
//! `/`; and is named `volley-watchdog`. The write end stays in volley only (it is
//! close-on-exec, so no task inherits it). The child ends with `_exit`, so nothing
//! volley had buffered is written twice.
//!
//! Protocol, one line each: `@<run id>` once the run id is known, `+<pgid>` after a
//! group was spawned, `-<pgid>` once volley has killed a finished group, and `bye`
//! on normal shutdown. Registrations are counted, so a `+` for a reused id that
//! overtakes the old `-` is not lost. On EOF without `bye`, volley is gone: the
//! watchdog SIGKILLs every registered group, then every process whose environment
//! carries the run's `VOLLEY_RUN_ID`, and exits. SIGKILL straight away keeps well
//! within the two-second budget and leaves no window in which an emptied group's id
//! could be reused between two signals.
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
use std::fs::File;
use std::io::{self, BufRead, BufReader, PipeReader, PipeWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use super::group::signal_group;

const BYE: &[u8] = b"bye";
const MAX_LINE: u64 = 64;
/// The longest a registration waits in volley before it is written to the watchdog.
pub const BATCH: Duration = Duration::from_millis(10);

/// volley's end of the watchdog pipe.
#[derive(Debug)]
pub struct WatchdogLink {
    writer: Option<PipeWriter>,
    /// Bytes not yet accepted by the pipe.
    backlog: Vec<u8>,
    last_write: Option<Instant>,
}

impl WatchdogLink {
    /// Forks the watchdog (see the module documentation). Fails, forking nothing, if
    /// volley has more than one thread. Does not wait for the child: lines queue in
    /// the pipe.
    pub fn fork() -> io::Result<Self> {
        ensure_single_threaded()?;
        let (reader, writer) = io::pipe()?;
        // SAFETY: volley has one thread (checked above), so the child's copy of its
        // memory holds no lock that another thread was holding; the child never
        // returns into volley's code (`watchdog_child` ends with `_exit`).
        match unsafe { libc::fork() } {
            -1 => Err(io::Error::last_os_error()),
            0 => {
                drop(writer);
                watchdog_child(reader)
            }
            _ => {
                drop(reader);
                rustix::io::ioctl_fionbio(&writer, true)?;
                Ok(WatchdogLink { writer: Some(writer), backlog: Vec::new(), last_write: None })
            }
        }
    }

    /// [`WatchdogLink::fork`], or the warning that says what its failure means:
    /// `guarded` names what could then outlive volley ("tasks", "services").
    pub fn fork_or_warning(guarded: &str) -> Result<Self, String> {
        Self::fork().map_err(|e| {
            format!("cannot start the watchdog: {e}; if volley is killed, its {guarded} may outlive it")
        })
    }

    /// Tells the watchdog the `VOLLEY_RUN_ID` the tasks carry, which its last resort
    /// looks for. Written at once, and outside the rate limit: the first task's
    /// registration goes out at once too.
    pub fn mark_run(&mut self, run_id: &str) {
        self.backlog.push(b'@');
        self.backlog.extend_from_slice(run_id.as_bytes());
        self.backlog.push(b'\n');
        self.write_backlog();
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
        self.write_backlog();
    }

    fn write_backlog(&mut self) {
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

/// Refuses to fork a process with other threads (see [`WatchdogLink::fork`]). A
/// thread that has just been joined may still be listed for a moment (the join
/// returns before the kernel has removed it): the count is given a few milliseconds
/// to fall to one.
fn ensure_single_threaded() -> io::Result<()> {
    let count = || {
        std::fs::read_dir("/proc/self/task")
            .map(Iterator::count)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot count volley's threads: {e}")))
    };
    let deadline = Instant::now() + Duration::from_millis(20);
    let mut threads = count()?;
    while threads > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
        threads = count()?;
    }
    if threads == 1 {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "volley has {threads} threads; the watchdog is forked before the first one starts"
        )))
    }
}

/// The forked watchdog: detaches from volley's group and descriptors, watches the
/// pipe until `bye` or EOF, and exits without running anything of volley's.
fn watchdog_child(reader: PipeReader) -> ! {
    let code = match detach(reader) {
        Ok(input) => match watch(BufReader::new(input), |pgid| {
            let _ = signal_group(pgid, libc::SIGKILL);
        }) {
            WatchEnd::Bye => 0,
            WatchEnd::Abandoned { run_id, .. } => {
                if let Some(run_id) = run_id {
                    kill_marked(&[b"VOLLEY_RUN_ID=".as_slice(), &run_id].concat());
                }
                1
            }
        },
        Err(_) => 2,
    };
    // SAFETY: `_exit` ends the process at once; it takes no pointers.
    unsafe { libc::_exit(code) }
}

/// Gives the child its own process group and name, the pipe as stdin, `/dev/null`
/// as stdout and stderr, no other descriptor, and `/` as its directory.
fn detach(reader: PipeReader) -> io::Result<File> {
    rustix::process::setpgid(None, None)?;
    let _ = rustix::thread::set_name(c"volley-watchdog");
    let null = File::options().read(true).write(true).open("/dev/null")?;
    rustix::stdio::dup2_stdin(&reader)?;
    rustix::stdio::dup2_stdout(&null)?;
    rustix::stdio::dup2_stderr(&null)?;
    drop((reader, null));
    close_from(3);
    std::env::set_current_dir("/")?;
    // SAFETY: descriptor 0 is open (the `dup2` above) and owned by nothing else.
    let input = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(0) };
    Ok(File::from(input))
}

/// Closes every descriptor from `first` up.
fn close_from(first: u32) {
    // SAFETY: close_range(2) takes no pointers; nothing in this process uses the
    // descriptors it closes.
    let closed = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) } == 0;
    if !closed {
        // Before Linux 5.9.
        for fd in first..1024 {
            // SAFETY: as above, one descriptor at a time.
            unsafe { libc::close(fd as libc::c_int) };
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
    /// EOF (or a read error) without `bye`: these groups were killed, in order;
    /// `run_id` is the last one announced.
    Abandoned { killed: Vec<u32>, run_id: Option<Vec<u8>> },
}

/// The watchdog's logic over any reader; `kill` is called once per registered group
/// when the reader ends without `bye`.
pub fn watch(mut reader: impl BufRead, mut kill: impl FnMut(u32)) -> WatchEnd {
    let mut registered: HashMap<u32, u32> = HashMap::new();
    let mut run_id = None;
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
        if let Some(id) = text.strip_prefix(b"@") {
            run_id = Some(id.to_vec());
            continue;
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
    WatchEnd::Abandoned { killed, run_id }
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

    fn abandoned(killed: Vec<u32>) -> WatchEnd {
        WatchEnd::Abandoned { killed, run_id: None }
    }

    #[test]
    fn eof_without_bye_kills_registered_groups() {
        assert_eq!(run("+10\n+20\n+30\n-20\n"), abandoned(vec![10, 30]));
    }

    #[test]
    fn bye_kills_nothing() {
        assert_eq!(run("+10\n+20\nbye\n+30\n"), WatchEnd::Bye);
    }

    #[test]
    fn the_last_announced_run_id_is_kept_for_the_last_resort() {
        assert_eq!(
            run("@first\n+10\n@run-2\n"),
            WatchEnd::Abandoned { killed: vec![10], run_id: Some(b"run-2".to_vec()) }
        );
    }

    #[test]
    fn the_run_id_does_not_delay_the_first_registration() {
        let (mut reader, writer) = io::pipe().expect("pipe");
        let mut link = WatchdogLink { writer: Some(writer), backlog: Vec::new(), last_write: None };
        link.mark_run("r1");
        assert!(!link.register(42), "the first registration was only queued");
        assert!(link.register(43), "the second one, right after, was not rate-limited");
        link.bye();
        let mut text = String::new();
        reader.read_to_string(&mut text).expect("read");
        assert_eq!(text, "@r1\n+42\n+43\nbye\n");
    }

    #[test]
    fn the_fork_is_refused_while_volley_has_other_threads() {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || stopped.recv());
        let result = WatchdogLink::fork();
        drop(stop);
        let _ = other.join();
        let error = result.expect_err("forked a multi-threaded process");
        assert!(error.to_string().contains("threads"), "{error}");
    }

    #[test]
    fn registrations_are_counted() {
        assert_eq!(run("+10\n+10\n-10\n"), abandoned(vec![10]));
        assert_eq!(run("+10\n-10\n-10\n+10\n"), abandoned(vec![10]));
        assert_eq!(run("-10\n+10\n-10\n"), abandoned(vec![]));
    }

    #[test]
    fn garbage_is_ignored() {
        let long = "9".repeat(500);
        let input = format!("hello\n+\n+x\n+{long}\n*5\n\n+7\nby\n+8");
        assert_eq!(run(&input), abandoned(vec![7]));
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
        assert_eq!(end, abandoned(vec![victim.id()]));
        assert!(killed_by_sigkill(&mut victim));
        assert!(kept.try_wait().expect("try_wait").is_none());
        assert!(dropped.try_wait().expect("try_wait").is_none());
        for mut child in [kept, dropped] {
            child.kill().expect("kill");
            child.wait().expect("wait");
        }
    }
}
