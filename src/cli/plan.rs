//! `volley plan`: the graph in levels with each task's expected duration, the
//! critical path, and the wall time predicted for N slots by simulating volley's own
//! scheduler ([`simulate`]) on the medians from history — the same priorities,
//! limits and pools as `volley run` would use, so "what would -j 8 give me?" is
//! answered by the policy that will actually run.
//!
//! A task without history counts as [`UNKNOWN`] (1 s) and is shown as such; a
//! `for_each` task counts as its last recorded instance count times the median of
//! one instance. The renderers (text here, dot and mermaid in `plan_graph.rs`) only
//! format a [`PlanModel`].

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Duration;

use volley_core::graph::UnitId;
use volley_core::schedule::{Instances, Limits};
use volley_core::simulate::simulate;

use super::args::{Cli, PlanArgs, PlanFormat};
use super::{CliError, color_choice, exit, plan_graph, project, run};
use crate::record;
use crate::runner::{self, RunPlan, Selection};
use volley_core::summary::format_duration;

use crate::ui;

/// What a task without history counts as.
pub const UNKNOWN: Duration = volley_core::forecast::UNKNOWN_DURATION;

/// Slot counts the comparison table always shows (besides `-j` and the CPU count).
const COMPARED_SLOTS: [usize; 4] = [1, 2, 4, 8];

pub fn plan(cli: &Cli, args: &PlanArgs) -> Result<i32, CliError> {
    let color_stderr = ui::resolve_color(color_choice(cli.color), std::io::stderr().is_terminal());
    let project = project::load(cli.file.as_deref(), color_stderr)?;
    let state_dir = &project.settings.state_dir;
    let selection = Selection { names: args.tasks.clone(), jobs: args.jobs.slots(), keep_going: false };
    let expected = record::expectations(state_dir, project.tasks.iter().map(|t| t.name.as_str()));
    let run_plan = runner::build(&project, &selection, &expected).map_err(|e| run::plan_error(&e))?;
    let model = PlanModel::new(&run_plan, |name| record::fan_out_history(state_dir, name));
    let text = match args.format {
        PlanFormat::Text => render_text(&model),
        PlanFormat::Dot => plan_graph::dot(&model),
        PlanFormat::Mermaid => plan_graph::mermaid(&model),
    };
    super::print_stdout(&text);
    Ok(exit::SUCCESS)
}

/// One task of the plan.
#[derive(Debug, Clone)]
pub struct PlannedUnit {
    pub name: String,
    /// Expected duration of one instance; [`UNKNOWN`] without history.
    pub per_instance: Duration,
    pub known: bool,
    /// `Some` for a fan-out task: its instance count (recorded or declared), and
    /// whether it is known at all (a `for_each.command` never run counts as 1).
    pub fan_out: Option<(u32, bool)>,
    pub on_critical_path: bool,
}

impl PlannedUnit {
    fn instances(&self) -> u32 {
        self.fan_out.map_or(1, |(n, _)| n)
    }

    /// All its instances' work, one after the other.
    pub fn work(&self) -> Duration {
        self.per_instance.saturating_mul(self.instances())
    }
}

/// Everything `plan` shows, computed once.
#[derive(Debug, Clone)]
pub struct PlanModel {
    /// Levels of included tasks: level 0 needs nothing, level k needs something at k − 1.
    pub levels: Vec<Vec<PlannedUnit>>,
    /// `(dependency, dependent)` names, dependencies first.
    pub edges: Vec<(String, String)>,
    pub critical_path: Vec<String>,
    pub critical_length: Duration,
    pub work: Duration,
    pub slots: usize,
    pub predicted: Duration,
    /// `(slots, predicted wall time)`, fewest slots first; includes `slots`.
    pub compared: Vec<(usize, Duration)>,
    /// With a slot for every instance: only dependencies hold work back.
    pub unlimited: Duration,
    pub any_known: bool,
    pub all_known: bool,
}

impl PlanModel {
    pub fn new(plan: &RunPlan, fan_out_history: impl Fn(&str) -> record::FanOutHistory) -> PlanModel {
        let graph = &plan.graph;
        let included = |u: UnitId| plan.units.get(u.index()).is_some_and(|p| p.included);
        let mut units: Vec<Option<PlannedUnit>> = vec![None; graph.len()];
        let mut sim_units = plan.units.clone();
        for u in graph.ids().filter(|u| included(*u)) {
            let exec = &plan.execs[u.index()];
            let (per_instance, fan_out) = if exec.fan_out.is_some() {
                let history = fan_out_history(&exec.name);
                let count = match plan.units[u.index()].instances {
                    Instances::Known(n) => Some(n),
                    Instances::Pending => history.instances,
                };
                sim_units[u.index()].instances = Instances::Known(count.unwrap_or(1));
                (history.per_instance, Some((count.unwrap_or(1), count.is_some())))
            } else {
                (exec.expected, None)
            };
            units[u.index()] = Some(PlannedUnit {
                name: exec.name.to_string(),
                per_instance: per_instance.unwrap_or(UNKNOWN),
                known: per_instance.is_some(),
                fan_out,
                on_critical_path: false,
            });
        }
        let durations: Vec<Duration> =
            units.iter().map(|u| u.as_ref().map_or(Duration::ZERO, |u| u.per_instance)).collect();
        let predict = |slots: usize| {
            let limits = Limits { slots, pools: plan.limits.pools.clone() };
            simulate(graph, sim_units.clone(), limits, &durations).makespan
        };
        let slots = plan.limits.slots;
        // A fan-out task on the critical path takes as long as its instances do
        // side by side, `jobs` (or the slots) at a time.
        let weights: Vec<f64> = graph
            .ids()
            .map(|u| {
                let Some(unit) = &units[u.index()] else { return 0.0 };
                let width = plan.units[u.index()].cap.unwrap_or(slots).clamp(1, slots.max(1)) as u32;
                unit.per_instance.as_secs_f64() * f64::from(unit.instances().div_ceil(width))
            })
            .collect();
        let (path, length) = graph.critical_path(&weights);
        let path: Vec<UnitId> = path.into_iter().filter(|u| included(*u)).collect();
        for u in &path {
            if let Some(unit) = &mut units[u.index()] {
                unit.on_critical_path = true;
            }
        }
        let mut compared: Vec<usize> =
            COMPARED_SLOTS.iter().copied().chain([slots, runner::default_jobs()]).collect();
        compared.sort_unstable();
        compared.dedup();
        let total_instances: usize = units.iter().flatten().map(|u| u.instances() as usize).sum();
        let edges = graph
            .ids()
            .filter(|u| included(*u))
            .flat_map(|u| graph.deps(u).iter().map(move |d| (*d, u)))
            .map(|(d, u)| (graph.name(d).to_string(), graph.name(u).to_string()))
            .collect();
        let levels = graph
            .levels()
            .into_iter()
            .map(|level| level.into_iter().filter_map(|u| units[u.index()].clone()).collect::<Vec<_>>())
            .filter(|level| !level.is_empty())
            .collect::<Vec<_>>();
        let all: Vec<&PlannedUnit> = levels.iter().flatten().collect();
        PlanModel {
            critical_path: path.iter().map(|u| graph.name(*u).to_string()).collect(),
            critical_length: Duration::from_secs_f64(length.max(0.0)),
            work: all.iter().map(|u| u.work()).sum(),
            slots,
            predicted: predict(slots),
            compared: compared.into_iter().map(|n| (n, predict(n))).collect(),
            unlimited: predict(total_instances.max(1)),
            any_known: all.iter().any(|u| u.known),
            all_known: all.iter().all(|u| u.known),
            edges,
            levels,
        }
    }

    /// max(critical path, work ÷ slots): no schedule on these slots can beat it.
    pub fn lower_bound(&self, slots: usize) -> Duration {
        self.critical_length.max(self.work / slots.max(1) as u32)
    }

    pub fn task_count(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }
}

fn us(d: Duration) -> String {
    format_duration(d.as_micros() as u64)
}

/// How a task's expected duration reads: `4.2s`, `12 × 0.3s`, `no history`.
pub fn expected_text(unit: &PlannedUnit) -> String {
    let each = if unit.known { us(unit.per_instance) } else { format!("no history ({})", us(UNKNOWN)) };
    match unit.fan_out {
        None => each,
        Some((n, true)) => format!("{n} × {each}"),
        Some((_, false)) => format!("? × {each}"),
    }
}

pub fn render_text(model: &PlanModel) -> String {
    let mut out = String::new();
    let tasks = model.task_count();
    let _ = writeln!(
        out,
        "{tasks} task{} in {} level{}, {} slot{}",
        plural(tasks),
        model.levels.len(),
        plural(model.levels.len()),
        model.slots,
        plural(model.slots)
    );
    let width = model.levels.iter().flatten().map(|u| u.name.chars().count()).max().unwrap_or(0);
    for (depth, level) in model.levels.iter().enumerate() {
        let _ = writeln!(out, "\nlevel {}", depth + 1);
        for unit in level {
            let mark = if unit.on_critical_path { '*' } else { ' ' };
            let _ = writeln!(out, "  {mark} {:<width$}  {}", unit.name, expected_text(unit));
        }
    }
    out.push('\n');
    let _ =
        writeln!(out, "critical path   {}  ({})", model.critical_path.join(" → "), us(model.critical_length));
    let _ = writeln!(out, "total work      {}", us(model.work));
    let _ = writeln!(
        out,
        "predicted wall  {} on {} slot{}  (lower bound {}, speed-up {})",
        us(model.predicted),
        model.slots,
        plural(model.slots),
        us(model.lower_bound(model.slots)),
        speed_up(model.work, model.predicted)
    );
    let _ = writeln!(out, "\n  slots  predicted  speed-up");
    let cores = runner::default_jobs();
    for (slots, wall) in &model.compared {
        let mut note = String::new();
        if *slots == model.slots {
            note.push_str("  ← this plan");
        }
        if *slots == cores {
            note.push_str("  (CPU count)");
        }
        let _ = writeln!(out, "  {slots:>5}  {:>9}  {:>8}{note}", us(*wall), speed_up(model.work, *wall));
    }
    let _ = writeln!(
        out,
        "  {:>5}  {:>9}  {:>8}  (a slot for every instance)",
        "∞",
        us(model.unlimited),
        speed_up(model.work, model.unlimited)
    );
    out.push('\n');
    out.push_str("* on the critical path. Durations: median of each task's last 10 successful runs");
    if !model.all_known {
        let _ = write!(out, "; a task with no history counts as {}", us(UNKNOWN));
    }
    out.push_str(".\n");
    if !model.any_known {
        out.push_str("No history yet: the predictions show the graph's shape, not real times.\n");
    }
    out
}

fn speed_up(work: Duration, wall: Duration) -> String {
    if wall.is_zero() { "-".to_string() } else { format!("{:.1}×", work.as_secs_f64() / wall.as_secs_f64()) }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
