//! Requests from the terminal or the socket (`up`, `down`, `restart`, `status`),
//! and the callers waiting for their answers.

use tokio::sync::oneshot;
use volley_core::services::Progress;

use super::super::socket::{FailedService, ProbeReport, Request, Response, ServiceReport};
use super::{Supervisor, WaitKind, Waiter, micros};

impl Supervisor {
    pub(super) fn on_request(&mut self, request: &Request, reply: oneshot::Sender<Response>) {
        self.linger = None;
        let names = match request {
            Request::Up { names } | Request::Down { names } => names.clone(),
            Request::Restart { name } => vec![name.clone()],
            Request::Status => Vec::new(),
        };
        let set = match self.resolve(&names) {
            Ok(set) => set,
            Err(message) => {
                let _ = reply.send(Response::Error { message });
                return;
            }
        };
        let (kind, actions) = match request {
            Request::Status => {
                let services = (0..self.live.len()).map(|i| self.report(i)).collect();
                let _ = reply.send(Response::Status { supervisor_pid: std::process::id(), services });
                return;
            }
            Request::Up { .. } => (WaitKind::Ready, self.board.up(&set)),
            Request::Restart { .. } => (WaitKind::Ready, self.board.restart(set[0])),
            Request::Down { .. } => {
                let (stopping, actions) = self.board.down(&set);
                for &i in &stopping {
                    self.live[i].last_stop = None;
                }
                self.waiters.push(Waiter { set: stopping, kind: WaitKind::Stopped, reply });
                self.apply(actions);
                return;
            }
        };
        self.waiters.push(Waiter { set, kind, reply });
        self.apply(actions);
    }

    pub(super) fn resolve_waiters(&mut self) {
        let mut i = 0;
        while i < self.waiters.len() {
            let waiter = &self.waiters[i];
            let response = match waiter.kind {
                WaitKind::Ready => match self.board.progress(&waiter.set) {
                    Progress::Waiting => None,
                    Progress::AllReady => Some(self.up_response(&waiter.set, None)),
                    Progress::Failed(f) => Some(self.up_response(&waiter.set, Some(self.failure_report(f)))),
                },
                WaitKind::Stopped => {
                    let done = waiter.set.iter().all(|&s| !self.board.state(s).is_running());
                    done.then(|| Response::Down {
                        stopped: waiter.set.iter().filter_map(|&s| self.live[s].last_stop.clone()).collect(),
                    })
                }
            };
            if let Some(response) = response {
                let _ = self.waiters.swap_remove(i).reply.send(response);
            } else {
                i += 1;
            }
        }
    }

    pub(super) fn up_response(&self, set: &[usize], failed: Option<FailedService>) -> Response {
        Response::Up {
            services: self.board.with_deps(set).into_iter().map(|i| self.report(i)).collect(),
            failed,
        }
    }

    pub(super) fn failure_report(&self, i: usize) -> FailedService {
        let live = &self.live[i];
        FailedService {
            name: live.name.to_string(),
            reason: live.failure.clone().unwrap_or_else(|| self.board.state(i).as_str().to_owned()),
            last_lines: live.recent.iter().cloned().collect(),
        }
    }

    pub(super) fn report(&self, i: usize) -> ServiceReport {
        let live = &self.live[i];
        let state = self.board.state(i);
        ServiceReport {
            name: live.name.to_string(),
            state,
            pid: live.pid.filter(|_| state.is_running()),
            uptime_us: live.spawned_at.filter(|_| state.is_running()).map(|t| micros(t.elapsed())),
            restarts: self.board.restarts(i),
            time_to_ready_us: live.time_to_ready.map(micros),
            last_probe: live.last_probe.as_ref().map(|p| ProbeReport {
                ok: p.ok,
                message: p.message.clone(),
                latency_us: micros(p.latency),
            }),
        }
    }
}
