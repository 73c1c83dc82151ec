//! `volley up [-d] [NAME...]` and the hidden `__supervisor` it detaches into.
//!
//! Foreground: this process is the supervisor; it streams tagged output, serves the
//! control socket (so `status`, `logs`, `down` work from another terminal), and
//! stops everything on Ctrl-C (exit 130) or when a service it was asked for fails
//! for good (exit 1). Detached: `up -d` re-executes volley as `__supervisor` in its
//! own session (never forking a process that runs tokio), then asks it over the
//! socket to start the services and waits for the answer; if a supervisor already
//! runs, the services are added to it.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use volley_core::event::RunStatus;
use volley_core::model::Project;

use super::args::{Cli, UpArgs};
use super::{CliError, color_choice, exit, project};
use crate::record::{ServiceRecorder, UpRun};
use crate::runner::{BaseEnv, Recording};
use crate::service::{
    Client, Control, Ending, FailedService, InFlight, LineObserver, Request, Response, SocketError,
    Supervisor, SupervisorOptions, SupervisorPaths, bind, fork_watchdog, logs_dir, serve,
};
use crate::ui;

/// How long `up -d` waits for the supervisor it started to open its socket.
const SOCKET_WAIT: Duration = Duration::from_secs(10);

pub fn up(cli: &Cli, args: &UpArgs) -> Result<i32, CliError> {
    let color = ui::resolve_color(color_choice(cli.color), std::io::stderr().is_terminal());
    let project = project::load(cli.file.as_deref(), color)?;
    check_names(&project, &args.names)?;
    let paths = SupervisorPaths::new(&project.settings.state_dir);
    if args.detach {
        return detach(&project, &paths, &args.names, color);
    }
    if Client::connect(&paths).is_some() {
        return Err(CliError::usage("a supervisor is already running this project's services")
            .with_help("add services to it with `volley up -d NAME`, or stop it with `volley down`"));
    }
    foreground(cli, &project, &paths, &args.names)
}

/// Every name must be a service of the file.
pub(super) fn check_names(project: &Project, names: &[String]) -> Result<(), CliError> {
    if project.services.is_empty() {
        return Err(CliError::usage(format!("{} declares no services", project.file.display()))
            .with_help("declare one as `[services.NAME]` with `run = \"…\"`"));
    }
    for name in names {
        if project.service(name).is_none() {
            let error = if project.task(name).is_some() {
                CliError::usage(format!("`{name}` is a task, not a service"))
                    .with_help(format!("run it with `volley run {name}`"))
            } else {
                let closest = crate::runner::closest(name, project.services.iter().map(|s| s.name.as_str()));
                let error = CliError::usage(format!("no service named `{name}`"));
                match closest {
                    Some(c) => error.with_help(format!("did you mean `{c}`?")),
                    None => error.with_help("`volley list` shows the services"),
                }
            };
            return Err(error);
        }
    }
    Ok(())
}

fn options(project: &Project, run_id: &str) -> Result<SupervisorOptions, CliError> {
    let base = BaseEnv::load(project).map_err(|e| CliError::usage(e.to_string()))?;
    Ok(SupervisorOptions {
        shell: project.settings.shell.clone(),
        kill_timeout: project.settings.kill_timeout,
        state_dir: project.settings.state_dir.clone(),
        envs: project.services.iter().map(|s| base.for_task(&s.env, &s.name, run_id)).collect(),
        // Called before the event loop starts: volley has a single thread.
        watchdog: fork_watchdog(run_id),
        write_pids: true,
    })
}

fn supervisor_id() -> String {
    format!("up-{}-{}", jiff::Timestamp::now().as_second(), std::process::id())
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Runtime(format!("cannot start the event loop: {e}")))
}

/// The socket, and the control channel fed by it and by signals.
struct Wired {
    bound: crate::service::Bound,
    server: tokio::task::AbortHandle,
    /// Kept so the channel stays open while the socket may still send.
    _control_tx: mpsc::UnboundedSender<Control>,
    control_rx: Option<mpsc::UnboundedReceiver<Control>>,
    in_flight: Arc<InFlight>,
}

impl Wired {
    /// No new clients (they would reach a supervisor that is exiting), then deliver
    /// the answers still being written (`down`'s, typically).
    async fn finish(&self) {
        self.server.abort();
        self.bound.close_socket();
        self.in_flight.drain(ANSWER_DRAIN).await;
    }
}

/// How long a supervisor that is done waits for its last answers to be written.
const ANSWER_DRAIN: Duration = Duration::from_secs(1);

/// Binds the socket and wires requests and signals into one control channel.
fn wire(paths: &SupervisorPaths) -> Result<Wired, CliError> {
    let (bound, listener) = bind(paths).map_err(|e| match e {
        SocketError::AlreadyRunning => CliError::usage(e.to_string())
            .with_help("add services with `volley up -d NAME`, or stop it with `volley down`"),
        other => CliError::Runtime(other.to_string()),
    })?;
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (requests_tx, mut requests_rx) = mpsc::unbounded_channel();
    let in_flight = Arc::new(InFlight::default());
    let server = tokio::spawn(serve(listener, requests_tx, Arc::clone(&in_flight))).abort_handle();
    let forward = control_tx.clone();
    tokio::spawn(async move {
        while let Some((request, reply)) = requests_rx.recv().await {
            if forward.send(Control::Request(request, reply)).is_err() {
                return;
            }
        }
    });
    let signals = control_tx.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        // SIGHUP: the terminal of a foreground `up` closed; stop the services
        // gracefully rather than leave it to the watchdog's SIGKILL.
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) =
            (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup()))
        else {
            return;
        };
        loop {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
                _ = hup.recv() => {},
            }
            if signals.send(Control::Interrupt).is_err() {
                return;
            }
        }
    });
    Ok(Wired { bound, _control_tx: control_tx, control_rx: Some(control_rx), in_flight, server })
}

fn foreground(
    cli: &Cli,
    project: &Project,
    paths: &SupervisorPaths,
    names: &[String],
) -> Result<i32, CliError> {
    let color = ui::resolve_color(color_choice(cli.color), std::io::stdout().is_terminal());
    let options = options(project, &supervisor_id())?;
    let names_list: Vec<&str> = project.services.iter().map(|s| s.name.as_str()).collect();
    let ending = runtime()?.block_on(async {
        let mut wired = wire(paths)?;
        let control_rx =
            wired.control_rx.take().ok_or_else(|| CliError::Runtime("no control channel".into()))?;
        let lines = LineObserver::new(Box::new(std::io::stdout()), color, true, &names_list);
        let (observer, recorder) = recording(project, lines, std::env::args().collect());
        let mut supervisor = Supervisor::new(project, options, Box::new(observer))
            .map_err(|e| CliError::Runtime(format!("cannot start services: {e}")))?;
        let roots = supervisor.resolve(names).map_err(CliError::usage)?;
        supervisor.start_required(&roots);
        let ending = supervisor.run(control_rx).await;
        wired.finish().await;
        recorder.borrow_mut().finish(match ending {
            Ending::Stopped => RunStatus::Succeeded,
            Ending::Interrupted => RunStatus::Interrupted,
            Ending::Failed(_) => RunStatus::Failed,
        });
        Ok::<_, CliError>(ending)
    })?;
    match ending {
        Ending::Stopped => Ok(exit::SUCCESS),
        Ending::Interrupted => Ok(exit::INTERRUPTED),
        Ending::Failed(failure) => {
            print_failure(&failure);
            Ok(exit::FAILED)
        }
    }
}

pub(super) fn print_failure(failure: &FailedService) {
    eprintln!("error: service `{}` failed: {}", failure.name, failure.reason);
    if !failure.last_lines.is_empty() {
        eprintln!("last lines of `{}`:", failure.name);
        for line in &failure.last_lines {
            eprintln!("  {line}");
        }
    }
}

fn detach(
    project: &Project,
    paths: &SupervisorPaths,
    names: &[String],
    _color: bool,
) -> Result<i32, CliError> {
    let started = Instant::now();
    let request = Request::Up { names: names.to_vec() };
    // A supervisor that was exiting as we connected drops the connection: start a
    // new one then.
    let existing = Client::connect(paths).and_then(|mut client| client.request(request.clone()).ok());
    let response = match existing {
        Some(response) => response,
        None => spawn_supervisor(project, paths)?
            .request(request)
            .map_err(|e| CliError::Runtime(format!("the supervisor did not answer: {e}")))?,
    };
    print_up(&response, started.elapsed())
}

/// Prints an `Up` answer; the exit status.
pub(super) fn print_up(response: &Response, took: Duration) -> Result<i32, CliError> {
    match response {
        Response::Up { services, failed } => {
            for s in services {
                let ready = s.time_to_ready_us.map_or(String::new(), |t| {
                    format!(" (ready after {})", ui::format_duration(Duration::from_micros(t)))
                });
                let pid = s.pid.map_or(String::new(), |p| format!(", pid {p}"));
                println!("{} {}{pid}{ready}", s.name, s.state.as_str());
            }
            if let Some(failure) = failed {
                print_failure(failure);
                return Ok(exit::FAILED);
            }
            println!("all ready in {}", ui::format_duration(took));
            Ok(exit::SUCCESS)
        }
        Response::Error { message } => Err(CliError::usage(message.clone())),
        other => Err(CliError::Runtime(format!("unexpected answer from the supervisor: {other:?}"))),
    }
}

fn spawn_supervisor(project: &Project, paths: &SupervisorPaths) -> Result<Client, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Runtime(format!("cannot find the volley binary: {e}")))?;
    let log_dir = logs_dir(&project.settings.state_dir);
    std::fs::create_dir_all(&log_dir)
        .map_err(|e| CliError::Runtime(format!("cannot create {}: {e}", log_dir.display())))?;
    let log_path = log_dir.join("supervisor.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| CliError::Runtime(format!("cannot open {}: {e}", log_path.display())))?;
    let log_err = log.try_clone().map_err(|e| CliError::Runtime(e.to_string()))?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("-f")
        .arg(&project.file)
        .arg("__supervisor")
        .current_dir(&project.root)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    // SAFETY: setsid(2) is async-signal-safe and touches no memory; this process runs
    // no other threads yet (no runtime was started), so nothing is left half-locked.
    unsafe {
        command.pre_exec(|| rustix::process::setsid().map(|_| ()).map_err(std::io::Error::from));
    }
    let mut child =
        command.spawn().map_err(|e| CliError::Runtime(format!("cannot start the supervisor: {e}")))?;
    let deadline = Instant::now() + SOCKET_WAIT;
    loop {
        if let Some(client) = Client::connect(paths) {
            // The supervisor lives on in its own session; it is not our child to wait for.
            drop(child);
            return Ok(client);
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Another `up -d` may have won the race: its supervisor answers instead.
            if let Some(client) = Client::connect(paths) {
                return Ok(client);
            }
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(CliError::Runtime(format!(
                "the supervisor exited ({status}) before opening its socket:\n{}",
                tail.join("\n")
            )));
        }
        if Instant::now() > deadline {
            return Err(CliError::Runtime(format!(
                "the supervisor did not open {} within {}",
                paths.socket.display(),
                ui::format_duration(SOCKET_WAIT)
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The detached supervisor: serves the socket until nothing is left running.
pub fn supervisor_main(cli: &Cli) -> Result<i32, CliError> {
    let project = project::load(cli.file.as_deref(), false)?;
    let paths = SupervisorPaths::new(&project.settings.state_dir);
    let options = options(&project, &supervisor_id())?;
    let names: Vec<&str> = project.services.iter().map(|s| s.name.as_str()).collect();
    runtime()?.block_on(async {
        let mut wired = wire(&paths)?;
        let control_rx =
            wired.control_rx.take().ok_or_else(|| CliError::Runtime("no control channel".into()))?;
        let lines = LineObserver::new(Box::new(std::io::stdout()), false, false, &names);
        // Recorded as the user typed it, not as the hidden re-executed command line.
        let command = ["volley", "up", "-d"].map(String::from).to_vec();
        let (observer, recorder) = recording(&project, lines, command);
        let mut supervisor = Supervisor::new(&project, options, Box::new(observer))
            .map_err(|e| CliError::Runtime(format!("cannot start services: {e}")))?;
        supervisor.linger_until_first_request(SOCKET_WAIT);
        supervisor.keep_failed_services();
        let ending = supervisor.run(control_rx).await;
        wired.finish().await;
        recorder.borrow_mut().finish(if matches!(ending, Ending::Interrupted) {
            RunStatus::Interrupted
        } else {
            RunStatus::Succeeded
        });
        Ok::<_, CliError>(())
    })?;
    Ok(exit::SUCCESS)
}

/// The `up` is recorded as a run (`volley history`, `volley report`).
fn recording(
    project: &Project,
    lines: LineObserver,
    command: Vec<String>,
) -> (Recording, Rc<RefCell<ServiceRecorder>>) {
    let run = UpRun {
        run_key: supervisor_id(),
        command,
        started_at_us: jiff::Timestamp::now().as_microsecond(),
        services: project.services.len(),
    };
    let recorder = Rc::new(RefCell::new(ServiceRecorder::start(project.settings.state_dir.clone(), run)));
    (Recording::new(lines, Rc::clone(&recorder)), recorder)
}
