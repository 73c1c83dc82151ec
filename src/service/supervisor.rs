//! [`Supervisor`]: owns the service processes (through the [`LocalExecutor`], so each
//! attempt is a process group guarded by the watchdog), runs their probes, writes
//! their logs and PID files, carries out the [`Board`]'s decisions and answers
//! requests (`up`, `down`, `restart`, `status`) from the terminal or the socket.
//!
//! Everything reacts to events — an output line (for `log` probes), a probe result,
//! an exit, a timer, a request — on one current-thread runtime; there is no polling
//! loop. Probes run as their own tasks and report with the attempt number, so a
//! late answer about an attempt that already ended is ignored.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;
use volley_core::event::{Lines, Stream};
use volley_core::model::{Project, ServiceSpec};
use volley_core::services::{Board, BoardSpec, ServiceEvent};

use super::log_file::{DEFAULT_CAP, DEFAULT_KEEP, LogFile, log_path};
use super::pids;
use super::probe::{ProbeContext, ProbeResult};
use super::socket::{FailedService, Request, Response, StopReport};
use crate::exec::{Environment, ExecEvent, LocalExecutor, WatchdogLink, resolve_program};

mod actions;
mod events;
mod requests;

/// Lines of each service's output kept for failure reports.
const RECENT_LINES: usize = 20;

/// What the supervisor reports as it goes: a foreground `up` prints it, a detached
/// supervisor logs it.
pub trait Observer {
    fn output(&mut self, name: &Arc<str>, stream: Stream, lines: &Lines);
    fn event(&mut self, event: &ServiceEvent);
}

pub struct SupervisorOptions {
    pub shell: Vec<String>,
    pub kill_timeout: Duration,
    pub state_dir: PathBuf,
    /// Each service's complete environment, in the project's service order.
    pub envs: Vec<Environment>,
    /// The orphan guard, forked before volley's first thread (`None`: none).
    pub watchdog: Option<WatchdogLink>,
    /// Write `<state_dir>/pids/NAME.pid` (the services of `volley up`).
    pub write_pids: bool,
}

/// Forks the orphan guard for services that carry `run_id` as `VOLLEY_RUN_ID`.
/// Call it before volley's first thread ([`WatchdogLink::fork`]). A failure is
/// printed as a warning: the services then run unprotected.
pub fn fork_watchdog(run_id: &str) -> Option<WatchdogLink> {
    match WatchdogLink::fork_or_warning("services") {
        Ok(mut link) => {
            link.mark_run(run_id);
            Some(link)
        }
        Err(warning) => {
            eprintln!("warning: {warning}");
            None
        }
    }
}

/// Something for the supervisor from outside its own processes.
pub enum Control {
    /// Ctrl-C or SIGTERM: stop everything; a second one kills at once.
    Interrupt,
    Request(Request, oneshot::Sender<Response>),
}

/// Internal news from probe and timer tasks.
pub(super) enum Note {
    Probe {
        service: usize,
        attempt: u32,
        result: ProbeResult,
    },
    Ready {
        service: usize,
        attempt: u32,
    },
    /// Readiness timed out, or liveness failed past its retries.
    ProbeFailed {
        service: usize,
        attempt: u32,
        reason: String,
    },
    RestartDue {
        service: usize,
    },
    KillDue {
        service: usize,
        attempt: u32,
    },
    /// The shell a stop signal went around has outlived the children that got it.
    ShellOutlived {
        service: usize,
        attempt: u32,
    },
}

struct Live {
    spec: ServiceSpec,
    name: Arc<str>,
    context: ProbeContext,
    /// Attempts spawned so far; the current one's number is the task key's instance.
    attempt: u32,
    pid: Option<u32>,
    spawned_at: Option<Instant>,
    time_to_ready: Option<Duration>,
    stop_started: Option<Instant>,
    killed: bool,
    last_stop: Option<StopReport>,
    last_probe: Option<ProbeResult>,
    failure: Option<String>,
    probes: Vec<AbortHandle>,
    recent: VecDeque<String>,
    log: LogFile,
}

struct Waiter {
    set: Vec<usize>,
    kind: WaitKind,
    reply: oneshot::Sender<Response>,
}

enum WaitKind {
    Ready,
    Stopped,
}

/// How a supervisor run ended.
#[derive(Debug)]
pub enum Ending {
    /// Everything stopped after a request or on its own.
    Stopped,
    Interrupted,
    /// A service the foreground `up` asked for failed for good.
    Failed(FailedService),
}

pub struct Supervisor {
    live: Vec<Live>,
    board: Board,
    exec: LocalExecutor,
    exec_events: UnboundedReceiver<ExecEvent>,
    notes_tx: UnboundedSender<Note>,
    notes: UnboundedReceiver<Note>,
    observer: Box<dyn Observer>,
    waiters: Vec<Waiter>,
    /// `None`: no PID files (services of a `volley run`, which no other command manages).
    pids_dir: Option<PathBuf>,
    shell: PathBuf,
    shell_args: Vec<String>,
    interrupted: u32,
    /// Foreground: the services asked for; their failure ends the run.
    required: Option<Vec<usize>>,
    /// Detached: stay up (even with nothing running) until the first request or this.
    linger: Option<tokio::time::Instant>,
    /// Detached: a service that failed for good keeps the supervisor (and its state
    /// for `volley status`) until `down`.
    keep_failed: bool,
}

impl Supervisor {
    /// Must be called inside a tokio runtime.
    pub fn new(
        project: &Project,
        options: SupervisorOptions,
        observer: Box<dyn Observer>,
    ) -> std::io::Result<Supervisor> {
        let (exec_tx, exec_events) = mpsc::unbounded_channel();
        let exec = LocalExecutor::new(exec_tx, options.watchdog)?;
        let (notes_tx, notes) = mpsc::unbounded_channel();
        let (program, shell_args) =
            options.shell.split_first().ok_or_else(|| std::io::Error::other("settings.shell is empty"))?;
        let path_var = options.envs.first().and_then(|env| env.get("PATH"));
        let shell = resolve_program(program, path_var)?;
        let live = project
            .services
            .iter()
            .zip(options.envs)
            .map(|(spec, env)| Live {
                name: Arc::from(spec.name.as_str()),
                context: ProbeContext {
                    shell: options.shell.clone(),
                    env,
                    dir: spec.dir.clone().unwrap_or_else(|| project.root.clone()),
                },
                spec: ServiceSpec {
                    stop_timeout: Some(spec.stop_timeout.unwrap_or(options.kill_timeout)),
                    ..spec.clone()
                },
                attempt: 0,
                pid: None,
                spawned_at: None,
                time_to_ready: None,
                stop_started: None,
                killed: false,
                last_stop: None,
                last_probe: None,
                failure: None,
                probes: Vec::new(),
                recent: VecDeque::new(),
                log: LogFile::new(log_path(&options.state_dir, &spec.name, 0), DEFAULT_CAP, DEFAULT_KEEP),
            })
            .collect();
        Ok(Supervisor {
            live,
            board: Board::new(BoardSpec::from_services(&project.services)),
            exec,
            exec_events,
            notes_tx,
            notes,
            observer,
            waiters: Vec::new(),
            pids_dir: options.write_pids.then(|| options.state_dir.join("pids")),
            shell,
            shell_args: shell_args.to_vec(),
            interrupted: 0,
            required: None,
            linger: None,
            keep_failed: false,
        })
    }

    /// Index of each name; the error names the first unknown one.
    pub fn resolve(&self, names: &[String]) -> Result<Vec<usize>, String> {
        if names.is_empty() {
            return Ok((0..self.live.len()).collect());
        }
        names
            .iter()
            .map(|n| {
                self.live.iter().position(|l| *l.name == **n).ok_or_else(|| {
                    format!(
                        "no service named `{n}` in the file as it was when the supervisor started \
                         (stop it with `volley down` to use a changed file)"
                    )
                })
            })
            .collect()
    }

    /// Foreground: start `roots` now; their failure ends [`Supervisor::run`].
    pub fn start_required(&mut self, roots: &[usize]) {
        self.required = Some(roots.to_vec());
        let actions = self.board.up(roots);
        self.apply(actions);
    }

    /// Detached: stay while a service has failed for good, so `volley status` can
    /// show it; `volley down` releases it.
    pub fn keep_failed_services(&mut self) {
        self.keep_failed = true;
    }

    /// Detached: the client that started the supervisor sends the first request
    /// once it can connect; do not exit for having nothing to run before that.
    pub fn linger_until_first_request(&mut self, limit: Duration) {
        self.linger = Some(tokio::time::Instant::now() + limit);
    }

    /// Runs until nothing is left running (after `down`, an interrupt, or every
    /// service ending) or, in the foreground, until a required service fails.
    pub async fn run(mut self, mut control: UnboundedReceiver<Control>) -> Ending {
        let mut control_open = true;
        let mut failed: Option<FailedService> = None;
        loop {
            self.resolve_waiters();
            // A service stopped on request (Ctrl-C, `volley down`) is not a failure.
            if failed.is_none()
                && self.interrupted == 0
                && let Some(roots) = &self.required
                && let Some(i) = self.board.failed_in(roots)
            {
                failed = Some(self.failure_report(i));
                let (_, actions) = self.board.down(&(0..self.live.len()).collect::<Vec<_>>());
                self.apply(actions);
            }
            let held = self.keep_failed && self.board.holds_failed();
            if !self.board.is_active() && self.waiters.is_empty() && self.linger.is_none() && !held {
                break;
            }
            let linger = self.linger.unwrap_or_else(tokio::time::Instant::now);
            tokio::select! {
                Some(event) = self.exec_events.recv() => self.on_exec(event),
                Some(note) = self.notes.recv() => self.on_note(note),
                message = control.recv(), if control_open => match message {
                    Some(message) => self.on_control(message),
                    None => control_open = false,
                },
                () = tokio::time::sleep_until(linger), if self.linger.is_some() => self.linger = None,
            }
        }
        for live in &self.live {
            if let Some(dir) = &self.pids_dir {
                pids::remove(dir, &live.name);
            }
        }
        match failed {
            Some(failure) => Ending::Failed(failure),
            None if self.interrupted > 0 => Ending::Interrupted,
            None => Ending::Stopped,
        }
    }

    fn on_control(&mut self, message: Control) {
        match message {
            Control::Interrupt => {
                self.interrupted += 1;
                if self.interrupted == 1 {
                    let (_, actions) = self.board.down(&(0..self.live.len()).collect::<Vec<_>>());
                    self.apply(actions);
                } else {
                    self.exec.kill_all(libc::SIGKILL);
                }
            }
            Control::Request(request, reply) => self.on_request(&request, reply),
        }
    }
}

pub(super) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

pub(super) fn signal_number(signal: volley_core::model::Signal) -> i32 {
    use volley_core::model::Signal;
    match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Int => libc::SIGINT,
        Signal::Hup => libc::SIGHUP,
        Signal::Quit => libc::SIGQUIT,
        Signal::Kill => libc::SIGKILL,
        Signal::Usr1 => libc::SIGUSR1,
        Signal::Usr2 => libc::SIGUSR2,
    }
}
