//! Services a `volley run` needs (SPEC §2): ready before the first task starts,
//! stopped when the run ends — unless a supervisor (`volley up`) already runs this
//! project's services, in which case it is asked to have them ready and keeps them.
//!
//! Services this run starts are supervised on a thread of their own with its own
//! runtime, so the run's event loop is unchanged; their output goes to their log
//! files (`volley logs`), their lifecycle lines to stderr, and their lifecycle events
//! to the run's history (`volley report` shows their timeline).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use volley_core::event::{Lines, Stream};
use volley_core::model::Project;
use volley_core::services::ServiceEvent;

use super::BaseEnv;
use crate::record::ServiceRecorder;
use crate::service::{
    Client, Control, FailedService, LineObserver, Observer, Request, Response, Supervisor, SupervisorOptions,
    SupervisorPaths, fork_watchdog,
};

/// The services of one run; [`RunServices::stop`] ends those this run started.
pub struct RunServices {
    own: Option<(mpsc::UnboundedSender<Control>, JoinHandle<()>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    #[error("service `{}` failed: {}{}", .0.name, .0.reason, last_lines(&.0.last_lines))]
    Failed(FailedService),
    #[error("cannot start services: {0}")]
    Start(String),
}

fn last_lines(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut text = String::from("\nlast lines:");
    for line in lines {
        text.push_str("\n  ");
        text.push_str(line);
    }
    text
}

impl RunServices {
    /// Nothing to start.
    pub fn none() -> RunServices {
        RunServices { own: None }
    }

    /// Makes `names` (and their deps) ready; blocks until they are, or one failed.
    /// Their events are recorded under the run `run_id` (its tasks' `VOLLEY_RUN_ID`
    /// too).
    pub fn start(
        project: &Project,
        names: &[String],
        base: &BaseEnv,
        run_id: &str,
    ) -> Result<RunServices, ServicesError> {
        if names.is_empty() {
            return Ok(RunServices::none());
        }
        let paths = SupervisorPaths::new(&project.settings.state_dir);
        if let Some(mut client) = Client::connect(&paths) {
            let answer = client
                .request(Request::Up { names: names.to_vec() })
                .map_err(|e| ServicesError::Start(format!("the supervisor did not answer: {e}")))?;
            return match answer {
                Response::Up { failed: Some(failure), .. } => Err(ServicesError::Failed(failure)),
                Response::Up { .. } => Ok(RunServices::none()),
                other => {
                    Err(ServicesError::Start(format!("unexpected answer from the supervisor: {other:?}")))
                }
            };
        }
        let options = SupervisorOptions {
            shell: project.settings.shell.clone(),
            kill_timeout: project.settings.kill_timeout,
            state_dir: project.settings.state_dir.clone(),
            envs: project.services.iter().map(|s| base.for_task(&s.env, &s.name, run_id)).collect(),
            // This thread is still volley's only one: the services thread starts below.
            watchdog: fork_watchdog(run_id),
            write_pids: false,
        };
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (reply_tx, reply_rx) = oneshot::channel();
        let _ = control_tx.send(Control::Request(Request::Up { names: names.to_vec() }, reply_tx));
        let project = project.clone();
        let run_key = run_id.to_owned();
        let thread = std::thread::Builder::new()
            .name("volley-services".into())
            .spawn(move || supervise(&project, options, run_key, control_rx))
            .map_err(|e| ServicesError::Start(e.to_string()))?;
        let started = Instant::now();
        let answer = reply_rx.blocking_recv();
        let own = RunServices { own: Some((control_tx, thread)) };
        match answer {
            Ok(Response::Up { failed: None, .. }) => {
                eprintln!("services ready in {}", crate::ui::format_duration(started.elapsed()));
                Ok(own)
            }
            Ok(Response::Up { failed: Some(failure), .. }) => {
                own.stop();
                Err(ServicesError::Failed(failure))
            }
            Ok(other) => {
                own.stop();
                Err(ServicesError::Start(format!("unexpected answer: {other:?}")))
            }
            Err(_) => {
                own.stop();
                Err(ServicesError::Start("the service supervisor ended early".into()))
            }
        }
    }

    /// Stops the services this run started (dependents first) and waits for them.
    pub fn stop(self) {
        if let Some((control, thread)) = self.own {
            let _ = control.send(Control::Interrupt);
            let _ = thread.join();
        }
    }
}

fn supervise(
    project: &Project,
    options: SupervisorOptions,
    run_key: String,
    control: mpsc::UnboundedReceiver<Control>,
) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        eprintln!("error: cannot start the services' event loop");
        return;
    };
    let names: Vec<&str> = project.services.iter().map(|s| s.name.as_str()).collect();
    let recorder = ServiceRecorder::attach(project.settings.state_dir.clone(), run_key);
    runtime.block_on(async {
        let lines = LineObserver::new(Box::new(std::io::stderr()), false, false, &names);
        let observer = Recording::new(lines, Rc::new(RefCell::new(recorder)));
        match Supervisor::new(project, options, Box::new(observer)) {
            Ok(mut supervisor) => {
                // The `up` request is already queued; do not exit before reading it.
                supervisor.linger_until_first_request(std::time::Duration::from_secs(10));
                supervisor.run(control).await;
            }
            Err(e) => eprintln!("error: cannot start services: {e}"),
        }
    });
}

/// Passes the supervisor's reports to the terminal (or a log) and to the history.
pub struct Recording {
    lines: LineObserver,
    recorder: Rc<RefCell<ServiceRecorder>>,
}

impl Recording {
    pub fn new(lines: LineObserver, recorder: Rc<RefCell<ServiceRecorder>>) -> Self {
        Recording { lines, recorder }
    }
}

impl Observer for Recording {
    fn output(&mut self, name: &Arc<str>, stream: Stream, lines: &Lines) {
        self.lines.output(name, stream, lines);
    }

    fn event(&mut self, event: &ServiceEvent) {
        self.lines.event(event);
        self.recorder.borrow_mut().event(event);
    }
}
