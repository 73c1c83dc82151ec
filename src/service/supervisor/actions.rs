//! Carrying out the board's actions: spawning an attempt (with its PID file and
//! readiness probe), stopping one (stop signal, SIGKILL after the stop timeout),
//! and scheduling restarts.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use volley_core::event::TaskKey;
use volley_core::graph::UnitId;
use volley_core::services::{Action, ServiceEvent};

use super::super::{pids, probing, stop_target};
use super::{Note, Supervisor, signal_number};
use crate::exec::SpawnRequest;

impl Supervisor {
    pub(super) fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Start(i) => self.start(i),
                Action::RestartAfter(i, delay) => {
                    let tx = self.notes_tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = tx.send(Note::RestartDue { service: i });
                    });
                }
                Action::Stop(i) => self.stop(i, true),
                Action::Kill(i) => self.stop(i, false),
            }
        }
    }

    pub(super) fn key(&self, i: usize) -> TaskKey {
        TaskKey { unit: UnitId(i as u32), instance: self.live[i].attempt }
    }

    pub(super) fn start(&mut self, i: usize) {
        let live = &mut self.live[i];
        live.attempt += 1;
        live.time_to_ready = None;
        live.failure = None;
        live.killed = false;
        let mut args: Vec<OsString> = self.shell_args.iter().map(OsString::from).collect();
        args.push(live.spec.run.clone().into());
        let request = SpawnRequest {
            arg0: None,
            key: TaskKey { unit: UnitId(i as u32), instance: live.attempt },
            program: self.shell.clone(),
            args,
            env: live.context.env.clone(),
            dir: live.context.dir.clone(),
        };
        match self.exec.spawn(request) {
            Ok(pid) => {
                let live = &mut self.live[i];
                live.pid = Some(pid);
                live.spawned_at = Some(Instant::now());
                if let Some(dir) = &self.pids_dir {
                    let _ = pids::write(dir, &live.name, pid);
                }
                let event =
                    ServiceEvent::ServiceStarting { name: live.name.clone(), attempt: live.attempt, pid };
                self.observer.event(&event);
                let handle =
                    probing::readiness(i, live.attempt, &live.spec, &live.context, self.notes_tx.clone());
                self.live[i].probes.push(handle);
            }
            Err(e) => {
                self.live[i].failure = Some(format!("cannot start: {e}"));
                let actions = self.board.spawn_failed(i);
                self.report_failure(i, &actions);
                self.apply(actions);
            }
        }
    }

    /// `polite`: a stop request (stop signal, then SIGKILL after the stop timeout);
    /// otherwise a failed probe (the same, reported as a failure).
    pub(super) fn stop(&mut self, i: usize, polite: bool) {
        let key = self.key(i);
        let live = &mut self.live[i];
        for probe in live.probes.drain(..) {
            probe.abort();
        }
        if polite {
            live.stop_started = Some(Instant::now());
            self.observer.event(&ServiceEvent::ServiceStopping { name: live.name.clone() });
        }
        let signal = signal_number(live.spec.stop_signal);
        let children =
            live.pid.map(|pid| stop_target::wrapper_children(pid, &self.shell)).unwrap_or_default();
        let attempt = live.attempt;
        if children.is_empty() {
            self.exec.signal(key, signal);
        } else {
            for &child in &children {
                stop_target::signal_process(child, signal);
            }
            if let Some(leader) = live.pid {
                let tx = self.notes_tx.clone();
                tokio::spawn(async move {
                    while stop_target::any_still_running(leader, &children) {
                        tokio::time::sleep(stop_target::SHELL_GRACE / 2).await;
                    }
                    tokio::time::sleep(stop_target::SHELL_GRACE).await;
                    let _ = tx.send(Note::ShellOutlived { service: i, attempt });
                });
            }
        }
        let timeout = live.spec.stop_timeout.unwrap_or(Duration::ZERO);
        let tx = self.notes_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let _ = tx.send(Note::KillDue { service: i, attempt });
        });
    }
}
