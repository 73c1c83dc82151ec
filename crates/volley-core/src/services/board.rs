//! [`Board`]: every service's state, and what to do next when something happens.
//!
//! Invariants: a service is started only while every service it depends on is
//! ready; a service asked to stop gets its stop signal only once nothing that depends
//! on it is running; a failed service is restarted at most `max_restarts` times, each
//! after `restart_delay`. A manual `restart` is not counted against `max_restarts`.

use std::time::Duration;

use super::ServiceState;
use crate::model::{RestartPolicy, ServiceSpec};

/// What the board needs to know of one service; indices refer to other entries.
#[derive(Debug, Clone)]
pub struct BoardSpec {
    pub deps: Vec<usize>,
    pub restart: RestartPolicy,
    pub max_restarts: u32,
    pub restart_delay: Duration,
}

impl BoardSpec {
    /// The board specs of a project's services; deps naming no service (tasks) are
    /// ignored, since validation only lets services depend on services.
    pub fn from_services(services: &[ServiceSpec]) -> Vec<BoardSpec> {
        services
            .iter()
            .map(|s| BoardSpec {
                deps: s.deps.iter().filter_map(|d| services.iter().position(|o| &o.name == d)).collect(),
                restart: s.restart,
                max_restarts: s.max_restarts,
                restart_delay: s.restart_delay,
            })
            .collect()
    }
}

/// What the orchestrator must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Spawn a new process for the service and start probing it.
    Start(usize),
    /// Call [`Board::restart_due`] after this delay.
    RestartAfter(usize, Duration),
    /// Send its stop signal (then SIGKILL after its stop timeout).
    Stop(usize),
    /// Its probe failed: kill the process; the exit counts as a failure.
    Kill(usize),
}

/// Where a set of services stands, for a caller waiting on `up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Waiting,
    AllReady,
    /// This service failed for good (or was stopped), so the set cannot become ready.
    Failed(usize),
}

#[derive(Debug, Clone)]
struct Entry {
    spec: BoardSpec,
    dependents: Vec<usize>,
    state: ServiceState,
    restarts: u32,
    wanted: bool,
    stop_requested: bool,
    /// Killed because a probe failed: its exit is a failure whatever the status.
    failing: bool,
    /// Failed, and a restart is scheduled.
    restart_pending: bool,
    /// `volley restart`: start again once stopped.
    manual_restart: bool,
}

#[derive(Debug, Clone)]
pub struct Board {
    entries: Vec<Entry>,
}

impl Board {
    pub fn new(specs: Vec<BoardSpec>) -> Board {
        let mut dependents = vec![Vec::new(); specs.len()];
        for (i, spec) in specs.iter().enumerate() {
            for &d in &spec.deps {
                dependents[d].push(i);
            }
        }
        let entries = specs
            .into_iter()
            .zip(dependents)
            .map(|(spec, dependents)| Entry {
                spec,
                dependents,
                state: ServiceState::Pending,
                restarts: 0,
                wanted: false,
                stop_requested: false,
                failing: false,
                restart_pending: false,
                manual_restart: false,
            })
            .collect();
        Board { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn state(&self, i: usize) -> ServiceState {
        self.entries[i].state
    }

    pub fn restarts(&self, i: usize) -> u32 {
        self.entries[i].restarts
    }

    pub fn is_wanted(&self, i: usize) -> bool {
        self.entries[i].wanted
    }

    /// `roots` and everything they depend on, transitively.
    pub fn with_deps(&self, roots: &[usize]) -> Vec<usize> {
        self.walk(roots, |e| &e.spec.deps)
    }

    /// `roots` and everything that depends on them, transitively.
    pub fn with_dependents(&self, roots: &[usize]) -> Vec<usize> {
        self.walk(roots, |e| &e.dependents)
    }

    fn walk(&self, roots: &[usize], next: impl Fn(&Entry) -> &Vec<usize>) -> Vec<usize> {
        let mut seen = vec![false; self.entries.len()];
        let mut stack: Vec<usize> = roots.to_vec();
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend(next(&self.entries[i]).iter().copied());
            }
        }
        (0..seen.len()).filter(|i| seen[*i]).collect()
    }

    /// Some process is running or a restart is scheduled: the orchestrator has work.
    pub fn is_active(&self) -> bool {
        self.entries.iter().any(|e| e.state.is_running() || e.restart_pending || e.manual_restart)
    }

    /// A service is wanted but failed for good: someone should see it (`status`)
    /// before it is brought down.
    pub fn holds_failed(&self) -> bool {
        self.entries.iter().any(|e| e.wanted && e.state == ServiceState::Failed && !e.restart_pending)
    }

    /// `volley up`: want `roots` and their deps; start what can start. A service
    /// that failed for good or was stopped is given a fresh start.
    pub fn up(&mut self, roots: &[usize]) -> Vec<Action> {
        for i in self.with_deps(roots) {
            let e = &mut self.entries[i];
            e.wanted = true;
            e.stop_requested = false;
            if matches!(e.state, ServiceState::Stopped)
                || (e.state == ServiceState::Failed && !e.restart_pending)
            {
                e.state = ServiceState::Pending;
                e.restarts = 0;
            }
        }
        self.advance()
    }

    /// The service's process was spawned by a `Start` action but could not be; same
    /// as an exit before ready.
    pub fn spawn_failed(&mut self, i: usize) -> Vec<Action> {
        self.exited(i, false)
    }

    pub fn ready(&mut self, i: usize) -> Vec<Action> {
        let e = &mut self.entries[i];
        if e.state == ServiceState::Starting && !e.failing {
            e.state = ServiceState::Ready;
        }
        self.advance()
    }

    /// The readiness probe timed out, or the healthcheck failed past its retries.
    pub fn probe_failed(&mut self, i: usize) -> Vec<Action> {
        let e = &mut self.entries[i];
        if matches!(e.state, ServiceState::Starting | ServiceState::Ready) && !e.failing {
            e.failing = true;
            return vec![Action::Kill(i)];
        }
        Vec::new()
    }

    /// The service's process exited (`success`: status 0).
    pub fn exited(&mut self, i: usize, success: bool) -> Vec<Action> {
        let mut actions = Vec::new();
        let e = &mut self.entries[i];
        match e.state {
            ServiceState::Stopping => {
                e.state = ServiceState::Stopped;
                e.failing = false;
                e.manual_restart = false;
                // Wanted again while it was stopping (`restart`, or an `up` after a
                // `down`): start it once more.
                if e.wanted && !e.stop_requested {
                    e.state = ServiceState::Pending;
                }
            }
            ServiceState::Starting | ServiceState::Ready => {
                let failure = std::mem::take(&mut e.failing) || e.state == ServiceState::Starting || !success;
                let restart = match e.spec.restart {
                    RestartPolicy::No => false,
                    RestartPolicy::OnFailure => failure,
                    RestartPolicy::Always => true,
                };
                if restart && e.restarts < e.spec.max_restarts && !e.stop_requested {
                    e.restarts += 1;
                    e.state = ServiceState::Failed;
                    e.restart_pending = true;
                    actions.push(Action::RestartAfter(i, e.spec.restart_delay));
                } else if failure {
                    e.state = ServiceState::Failed;
                } else {
                    e.state = ServiceState::Stopped;
                }
            }
            ServiceState::Pending | ServiceState::Stopped | ServiceState::Failed => {}
        }
        actions.extend(self.advance());
        actions
    }

    /// A `RestartAfter` delay elapsed.
    pub fn restart_due(&mut self, i: usize) -> Vec<Action> {
        let e = &mut self.entries[i];
        if std::mem::take(&mut e.restart_pending) && e.wanted && !e.stop_requested {
            e.state = ServiceState::Pending;
        }
        self.advance()
    }

    /// `volley down`: stop `roots` and everything that depends on them, each once its
    /// dependents have stopped. Returns the services concerned and the actions.
    pub fn down(&mut self, roots: &[usize]) -> (Vec<usize>, Vec<Action>) {
        let set = self.with_dependents(roots);
        for &i in &set {
            let e = &mut self.entries[i];
            e.wanted = false;
            e.stop_requested = true;
            e.manual_restart = false;
            if e.state == ServiceState::Pending || (e.state == ServiceState::Failed && e.restart_pending) {
                e.state = ServiceState::Stopped;
            }
            e.restart_pending = false;
        }
        (set, self.advance())
    }

    /// `volley restart`: stop this one service (its dependents keep running) and start
    /// it again once it has stopped.
    pub fn restart(&mut self, i: usize) -> Vec<Action> {
        let e = &mut self.entries[i];
        e.wanted = true;
        e.stop_requested = false;
        match e.state {
            ServiceState::Starting | ServiceState::Ready => {
                e.state = ServiceState::Stopping;
                e.manual_restart = true;
                let mut actions = vec![Action::Stop(i)];
                actions.extend(self.advance());
                actions
            }
            ServiceState::Stopping => {
                e.manual_restart = true;
                Vec::new()
            }
            ServiceState::Pending | ServiceState::Stopped | ServiceState::Failed => {
                e.restart_pending = false;
                self.up(&[i])
            }
        }
    }

    /// Where `set` stands (for `up` callers waiting on readiness).
    pub fn progress(&self, set: &[usize]) -> Progress {
        if let Some(failed) = self.failed_in(set) {
            return Progress::Failed(failed);
        }
        let closure = self.with_deps(set);
        // `up` made every stopped service of the set pending: stopped now means it
        // ended (on its own or by `down`) and will not be ready.
        if let Some(&ended) = closure.iter().find(|&&i| self.entries[i].state == ServiceState::Stopped) {
            return Progress::Failed(ended);
        }
        if closure.iter().all(|&i| self.entries[i].state == ServiceState::Ready) {
            Progress::AllReady
        } else {
            Progress::Waiting
        }
    }

    /// A service of `set` or of its deps that failed for good (no restart pending).
    pub fn failed_in(&self, set: &[usize]) -> Option<usize> {
        self.with_deps(set).into_iter().find(|&i| {
            let e = &self.entries[i];
            e.state == ServiceState::Failed && !e.restart_pending
        })
    }

    /// Starts what is wanted and whose deps are ready; stops what is asked to stop
    /// and has no running dependent.
    fn advance(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        for i in 0..self.entries.len() {
            let e = &self.entries[i];
            let can_start = e.wanted
                && e.state == ServiceState::Pending
                && e.spec.deps.iter().all(|&d| self.entries[d].state == ServiceState::Ready);
            let can_stop = e.stop_requested
                && matches!(e.state, ServiceState::Starting | ServiceState::Ready)
                && e.dependents.iter().all(|&d| !self.entries[d].state.is_running());
            if can_start {
                self.entries[i].state = ServiceState::Starting;
                actions.push(Action::Start(i));
            } else if can_stop {
                self.entries[i].state = ServiceState::Stopping;
                actions.push(Action::Stop(i));
            }
        }
        actions
    }
}
