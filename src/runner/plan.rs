//! From a validated [`Project`] and the user's selection to what the runner needs:
//! the graph, the scheduler's per-unit plans, and how to execute each unit.
//!
//! Decisions that belong to the user's intent live here (which tasks, how many slots,
//! which failure policy); decisions about order live in the core scheduler.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use volley_core::fanout::{Product, Template};
use volley_core::graph::{Graph, UnitId};
use volley_core::model::{ForEach, Project, TaskSpec};
use volley_core::schedule::{FailPolicy, Instances, Limits, UnitPlan};

use super::fanout::{FanOut, Naming, items_from_lines};

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
    /// The task's `budget`: running longer is flagged live.
    pub budget: Option<Duration>,
    /// `Some` for a `for_each` task or a `volley exec`.
    pub fan_out: Option<FanOut>,
}

#[derive(Debug)]
pub struct RunPlan {
    pub graph: Graph,
    pub units: Vec<UnitPlan>,
    pub execs: Vec<UnitExec>,
    pub limits: Limits,
    /// The names of [`Limits::pools`], in the same order.
    pub pool_names: Vec<Arc<str>>,
    pub policy: FailPolicy,
    /// The units the user named (or the default), for messages.
    pub roots: Vec<UnitId>,
    /// Services the included tasks depend on (directly or through other services),
    /// in file order: started and ready before the run, stopped after it.
    pub services: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("no task named `{name}`")]
    UnknownTask { name: String, suggestion: Option<String> },
    #[error("`{name}` is a service; `volley run` takes task names (start services with `volley up`)")]
    ServiceNamed { name: String },
    #[error("the file declares no tasks")]
    NoTasks,
    #[error("cannot read the items of task `{task}` from {path}: {message}")]
    ItemsFile { task: String, path: String, message: String },
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
    // Service units stay out of the scheduler (not included: their dependents do not
    // wait on them there); they are ready before the first task starts.
    let services: Vec<String> = graph
        .ids()
        .filter(|u| included[u.index()] && u.index() >= project.tasks.len())
        .map(|u| graph.name(u).to_string())
        .collect();

    let pools = &project.settings.pools;
    let execs: Vec<UnitExec> = project
        .tasks
        .iter()
        .map(|t| unit_exec(project, t, expected.by_name.get(&t.name).copied()))
        .collect::<Result<_, _>>()?;
    // Without history every task weighs the same, so priority is the longest
    // remaining path counted in tasks; with history, in expected seconds. Units
    // outside the run weigh nothing, so paths through them do not inflate priority.
    let weights: Vec<f64> = (0..graph.len())
        .map(|i| match execs.get(i) {
            Some(exec) if included[i] => exec.expected.map_or(1.0, |d| d.as_secs_f64().max(0.001)),
            _ => 0.0,
        })
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
                instances: execs.get(u.index()).map_or(Instances::Known(1), instances_of),
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
    let pool_names = pools.iter().map(|p| Arc::from(p.name.as_str())).collect();
    Ok(RunPlan { graph, units, execs, limits, pool_names, policy, roots, services })
}

fn instances_of(exec: &UnitExec) -> Instances {
    match &exec.fan_out {
        None => Instances::Known(1),
        Some(FanOut { items: Some(items), batch, .. }) => {
            Instances::Known(FanOut::instance_count(items, *batch))
        }
        Some(FanOut { items: None, .. }) => Instances::Pending,
    }
}

fn unit_exec(project: &Project, task: &TaskSpec, expected: Option<Duration>) -> Result<UnitExec, PlanError> {
    let fan_out = match &task.for_each {
        None => None,
        Some(for_each) => {
            let (items, list_command) = match for_each {
                ForEach::Items(items) => (Some(items.clone()), None),
                ForEach::File(path) => {
                    let text = std::fs::read(path).map_err(|e| PlanError::ItemsFile {
                        task: task.name.clone(),
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?;
                    (Some(items_from_lines(&text)), None)
                }
                ForEach::Command(command) => (None, Some(command.clone())),
            };
            Some(FanOut {
                template: Template::parse(&task.run),
                items: items.map(|items| Arc::new(Product::new(vec![items]))),
                list_command,
                batch: task.batch.max(1),
                naming: Naming::Task,
            })
        }
    };
    Ok(UnitExec {
        name: Arc::from(task.name.as_str()),
        run: task.run.clone(),
        dir: task.dir.clone().unwrap_or_else(|| project.root.clone()),
        env: task.env.clone(),
        timeout: task.timeout,
        success_codes: task.success_codes.clone(),
        expected,
        budget: task.budget,
        fan_out,
    })
}

/// What `volley exec` asks for.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub command: String,
    /// One or more `:::` groups (stdin counts as one).
    pub groups: Vec<Vec<String>>,
    pub slots: usize,
    pub timeout: Option<Duration>,
    pub retries: u32,
    pub policy: FailPolicy,
    pub dir: PathBuf,
}

/// A one-task plan whose instances are the combinations of the input groups.
pub fn build_exec(request: ExecRequest) -> RunPlan {
    let name = "exec".to_string();
    let graph = Graph::new(vec![name.clone()], vec![Vec::new()]);
    let items = Arc::new(Product::new(request.groups));
    let count = FanOut::instance_count(&items, 1);
    let exec = UnitExec {
        name: Arc::from(name.as_str()),
        run: request.command.clone(),
        dir: request.dir,
        env: Vec::new(),
        timeout: request.timeout,
        success_codes: vec![0],
        expected: None,
        budget: None,
        fan_out: Some(FanOut {
            template: Template::parse(&request.command),
            items: Some(items),
            list_command: None,
            batch: 1,
            naming: Naming::Item,
        }),
    };
    let unit = UnitPlan {
        included: true,
        priority: 1.0,
        pool: None,
        cap: None,
        instances: Instances::Known(count),
        retries: request.retries,
        retry_delay: TaskSpec::DEFAULT_RETRY_DELAY,
        allow_failure: false,
    };
    RunPlan {
        graph,
        units: vec![unit],
        execs: vec![exec],
        limits: Limits { slots: request.slots.max(1), pools: Vec::new() },
        pool_names: Vec::new(),
        policy: request.policy,
        roots: vec![UnitId(0)],
        services: Vec::new(),
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
