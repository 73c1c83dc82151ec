//! From a validated [`Project`] and the user's selection to what the runner needs:
//! the graph, the scheduler's per-unit plans, and how to execute each unit.
//!
//! Decisions that belong to the user's intent live here (which tasks, how many slots,
//! which failure policy); decisions about order live in the core scheduler.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use volley_core::graph::{Graph, UnitId};
use volley_core::model::{Project, TaskSpec};
use volley_core::schedule::{FailPolicy, Instances, Limits, UnitPlan};

/// What the user asked of this run, beyond the file.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Task names; empty means `settings.default`, else every task.
    pub names: Vec<String>,
    /// Slots from `-j`/`VOLLEY_JOBS`/`--no-parallel`; `None` falls back to the file, then the CPU count.
    pub jobs: Option<usize>,
    pub keep_going: bool,
}

/// Expected durations per unit (medians from history); `None` where unknown.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub by_name: std::collections::HashMap<String, Duration>,
}

/// How to execute one unit.
#[derive(Debug, Clone)]
pub struct UnitExec {
    pub name: Arc<str>,
    pub run: String,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    pub success_codes: Vec<i32>,
    pub expected: Option<Duration>,
}

#[derive(Debug)]
pub struct RunPlan {
    pub graph: Graph,
    pub units: Vec<UnitPlan>,
    pub execs: Vec<UnitExec>,
    pub limits: Limits,
    pub policy: FailPolicy,
    /// The units the user named (or the default), for messages.
    pub roots: Vec<UnitId>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("no task named `{name}`")]
    UnknownTask { name: String, suggestion: Option<String> },
    #[error("`{name}` is a service; `volley run` takes task names (start services with `volley up`)")]
    ServiceNamed { name: String },
    #[error(
        "task `{task}` needs service `{service}`, and running services from `volley run` is not available in this version"
    )]
    NeedsService { task: String, service: String },
    #[error("the file declares no tasks")]
    NoTasks,
}

impl PlanError {
    pub fn help(&self) -> Option<String> {
        match self {
            PlanError::UnknownTask { suggestion: Some(s), .. } => Some(format!("did you mean `{s}`?")),
            PlanError::UnknownTask { .. } => Some("`volley list` shows the tasks".to_string()),
            PlanError::NoTasks => Some("add a `[tasks.NAME]` table with a `run` command".to_string()),
            _ => None,
        }
    }
}

/// The graph of every task and service, tasks first, in file order.
pub fn project_graph(project: &Project) -> Graph {
    let names: Vec<String> = project
        .tasks
        .iter()
        .map(|t| t.name.clone())
        .chain(project.services.iter().map(|s| s.name.clone()))
        .collect();
    let index: std::collections::HashMap<&str, u32> =
        names.iter().enumerate().map(|(i, n)| (n.as_str(), i as u32)).collect();
    let deps = project
        .tasks
        .iter()
        .map(|t| &t.deps)
        .chain(project.services.iter().map(|s| &s.deps))
        .map(|deps| deps.iter().filter_map(|d| index.get(d.as_str())).map(|&i| UnitId(i)).collect())
        .collect();
    Graph::new(names, deps)
}

pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

pub fn build(
    project: &Project,
    selection: &Selection,
    expected: &Expectations,
) -> Result<RunPlan, PlanError> {
    if project.tasks.is_empty() {
        return Err(PlanError::NoTasks);
    }
    let graph = project_graph(project);
    let requested: Vec<String> = if !selection.names.is_empty() {
        selection.names.clone()
    } else if !project.settings.default.is_empty() {
        project.settings.default.clone()
    } else {
        project.tasks.iter().map(|t| t.name.clone()).collect()
    };
    let mut roots = Vec::with_capacity(requested.len());
    for name in &requested {
        match graph.id(name) {
            Some(id) if id.index() < project.tasks.len() => roots.push(id),
            Some(_) => return Err(PlanError::ServiceNamed { name: name.clone() }),
            None => {
                let suggestion = closest(name, project.tasks.iter().map(|t| t.name.as_str()));
                return Err(PlanError::UnknownTask { name: name.clone(), suggestion });
            }
        }
    }
    let included = graph.closure(&roots);
    if let Some((task, service)) =
        graph.ids().filter(|u| included[u.index()] && u.index() >= project.tasks.len()).find_map(|service| {
            let task = graph.dependents(service).iter().find(|t| included[t.index()])?;
            Some((graph.name(*task).to_string(), graph.name(service).to_string()))
        })
    {
        return Err(PlanError::NeedsService { task, service });
    }

    let pools = &project.settings.pools;
    let execs: Vec<UnitExec> =
        project.tasks.iter().map(|t| unit_exec(project, t, expected.by_name.get(&t.name).copied())).collect();
    // Without history every task weighs the same, so priority is the longest
    // remaining path counted in tasks; with history, in expected seconds.
    let weights: Vec<f64> = (0..graph.len())
        .map(|i| execs.get(i).and_then(|e| e.expected).map_or(1.0, |d| d.as_secs_f64().max(0.001)))
        .collect();
    let priorities = graph.bottom_levels(&weights);
    let units = graph
        .ids()
        .map(|u| {
            let task = project.tasks.get(u.index());
            UnitPlan {
                included: included[u.index()] && task.is_some(),
                priority: priorities[u.index()],
                pool: task
                    .and_then(|t| t.pool.as_ref())
                    .and_then(|p| pools.iter().position(|pool| &pool.name == p)),
                cap: task.and_then(|t| t.jobs),
                instances: Instances::Known(1),
                retries: task.map_or(0, |t| t.retries),
                retry_delay: task.map_or(TaskSpec::DEFAULT_RETRY_DELAY, |t| t.retry_delay),
                allow_failure: task.is_some_and(|t| t.allow_failure),
            }
        })
        .collect();
    let slots = selection.jobs.or(project.settings.jobs).unwrap_or_else(default_jobs).max(1);
    let limits = Limits { slots, pools: pools.iter().map(|p| p.limit).collect() };
    let policy = if selection.keep_going || !project.settings.fail_fast {
        FailPolicy::KeepGoing
    } else {
        FailPolicy::FailFast
    };
    Ok(RunPlan { graph, units, execs, limits, policy, roots })
}

fn unit_exec(project: &Project, task: &TaskSpec, expected: Option<Duration>) -> UnitExec {
    UnitExec {
        name: Arc::from(task.name.as_str()),
        run: task.run.clone(),
        dir: task.dir.clone().unwrap_or_else(|| project.root.clone()),
        env: task.env.clone(),
        timeout: task.timeout,
        success_codes: task.success_codes.clone(),
        expected,
    }
}

/// The closest candidate by Jaro-Winkler similarity, if it is close enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    candidates
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}
