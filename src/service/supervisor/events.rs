//! What the service processes and probe tasks report: output lines (and the `log`
//! probe), exits, probe results and timers.

use std::time::Duration;

use volley_core::event::AttemptEnd;
use volley_core::model::{Probe, ProbeCheck};
use volley_core::services::{Action, ServiceEvent, ServiceState};

use super::super::pids;
use super::super::probe::ProbeResult;
use super::super::probing;
use super::super::socket::StopReport;
use super::{Note, RECENT_LINES, Supervisor, micros, signal_number};
use crate::exec::ExecEvent;

impl Supervisor {
    pub(super) fn on_exec(&mut self, event: ExecEvent) {
        match event {
            ExecEvent::Output { key, stream, lines } => {
                let i = key.unit.index();
                let Some(live) = self.live.get_mut(i) else { return };
                if let Err(e) = live.log.write(stream, &lines.0) {
                    eprintln!("warning: cannot write {}: {e}", live.log.path().display());
                }
                for line in lines.iter() {
                    if live.recent.len() == RECENT_LINES {
                        live.recent.pop_front();
                    }
                    live.recent.push_back(String::from_utf8_lossy(line).into_owned());
                }
                self.observer.output(&live.name, stream, &lines);
                let matched = key.instance == live.attempt
                    && self.board.state(i) == ServiceState::Starting
                    && matches!(&live.spec.ready, Some(Probe { check: ProbeCheck::Log(re), .. })
                        if lines.iter().any(|l| re.is_match(&String::from_utf8_lossy(l))));
                if matched {
                    live.last_probe = Some(ProbeResult {
                        ok: true,
                        message: "log line matched".into(),
                        latency: Duration::ZERO,
                    });
                    self.became_ready(i);
                }
            }
            ExecEvent::Exited { key, end, .. } => {
                let i = key.unit.index();
                if self.live.get(i).is_none_or(|l| l.attempt != key.instance) {
                    return;
                }
                self.exited(i, &end);
            }
        }
    }

    pub(super) fn exited(&mut self, i: usize, end: &AttemptEnd) {
        let state = self.board.state(i);
        let live = &mut self.live[i];
        for probe in live.probes.drain(..) {
            probe.abort();
        }
        if let Some(dir) = &self.pids_dir {
            pids::remove(dir, &live.name);
        }
        live.pid = None;
        let success = matches!(end, AttemptEnd::Exited { code: 0 });
        if state == ServiceState::Stopping {
            let took = live.stop_started.map_or(Duration::ZERO, |t| t.elapsed());
            live.last_stop = Some(StopReport {
                name: live.name.to_string(),
                time_to_stop_us: micros(took),
                killed: live.killed,
            });
            self.observer.event(&ServiceEvent::ServiceStopped {
                name: live.name.clone(),
                time_to_stop_us: micros(took),
                killed: live.killed,
            });
        } else if live.failure.is_none() {
            live.failure = Some(match (state, end) {
                (ServiceState::Starting, AttemptEnd::Exited { code }) => {
                    format!("exited with {code} before ready")
                }
                (_, AttemptEnd::Exited { code }) => format!("exited with {code}"),
                (_, AttemptEnd::Signaled { signal }) => format!("killed by signal {signal}"),
                (_, other) => format!("{other:?}"),
            });
        }
        let actions = self.board.exited(i, success);
        match self.board.state(i) {
            ServiceState::Failed => self.report_failure(i, &actions),
            ServiceState::Stopped if state != ServiceState::Stopping => {
                self.observer.event(&ServiceEvent::ServiceExited { name: self.live[i].name.clone() });
            }
            _ => {}
        }
        self.apply(actions);
    }

    pub(super) fn report_failure(&mut self, i: usize, actions: &[Action]) {
        let restart_in = actions.iter().find_map(|a| match a {
            Action::RestartAfter(s, delay) if *s == i => Some(micros(*delay)),
            _ => None,
        });
        let live = &self.live[i];
        let reason = live.failure.clone().unwrap_or_else(|| "failed".into());
        self.observer.event(&ServiceEvent::ServiceFailed {
            name: live.name.clone(),
            reason,
            restart_in_us: restart_in,
        });
    }

    pub(super) fn became_ready(&mut self, i: usize) {
        let live = &mut self.live[i];
        // The readiness probe's work is done; a `log` probe's deadline must not fire.
        for probe in live.probes.drain(..) {
            probe.abort();
        }
        let took = live.spawned_at.map_or(Duration::ZERO, |t| t.elapsed());
        live.time_to_ready = Some(took);
        self.observer
            .event(&ServiceEvent::ServiceReady { name: live.name.clone(), time_to_ready_us: micros(took) });
        if let Some(health) = &live.spec.healthcheck {
            let handle = probing::liveness(i, live.attempt, health, &live.context, self.notes_tx.clone());
            live.probes.push(handle);
        }
        let actions = self.board.ready(i);
        self.apply(actions);
    }

    pub(super) fn on_note(&mut self, note: Note) {
        match note {
            Note::Probe { service, attempt, result } => {
                if self.live[service].attempt == attempt {
                    self.live[service].last_probe = Some(result);
                }
            }
            Note::Ready { service, attempt } => {
                if self.live[service].attempt == attempt
                    && self.board.state(service) == ServiceState::Starting
                {
                    self.became_ready(service);
                }
            }
            Note::ProbeFailed { service, attempt, reason } => {
                if self.live[service].attempt == attempt {
                    self.live[service].failure = Some(reason);
                    let actions = self.board.probe_failed(service);
                    self.apply(actions);
                }
            }
            Note::RestartDue { service } => {
                let actions = self.board.restart_due(service);
                self.apply(actions);
            }
            Note::ShellOutlived { service, attempt } => {
                let live = &self.live[service];
                if live.attempt == attempt && live.pid.is_some() {
                    let key = self.key(service);
                    self.exec.signal(key, signal_number(live.spec.stop_signal));
                }
            }
            Note::KillDue { service, attempt } => {
                if self.live[service].attempt == attempt && self.live[service].pid.is_some() {
                    self.live[service].killed = true;
                    let key = self.key(service);
                    self.exec.signal(key, libc::SIGKILL);
                }
            }
        }
    }
}
