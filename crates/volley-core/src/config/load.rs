//! The entry point: syntax, the top-level tables, then the checks that need the whole
//! file (duplicate names, dependencies, pools, `default`, cycles).

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::diagnostic::Diagnostics;
use super::file_system::FileSystem;
use super::service::parse_service;
use super::settings::{ParsedSettings, default_settings, parse_settings};
use super::task::{Declared, parse_task};
use super::walker::{Key, Value, Walker, closest};
use crate::graph::{Graph, UnitId};
use crate::model::{Project, ServiceSpec, TaskSpec};

const TOP_KEYS: &[Key] = &[
    Key { name: "settings", example: "[settings]" },
    Key { name: "tasks", example: "[tasks.build]" },
    Key { name: "services", example: "[services.redis]" },
];

/// Parses and validates one `volley.toml`. `path` names the file in messages, and its
/// parent directory is the root that relative paths are resolved against.
///
/// Paths in the model are `root.join(...)`: pass an absolute `path` for absolute
/// paths. On success, warnings (if any) are in `Project::warnings`. On failure, every
/// problem found is returned, warnings included; after a TOML syntax error only
/// that first error is.
pub fn load(path: &Path, text: &str, fs: &dyn FileSystem) -> Result<Project, Diagnostics> {
    let root = path.parent().unwrap_or(Path::new(""));
    let mut w = Walker::new(text, root, fs);
    let (document, syntax_errors) = DeTable::parse_recoverable(text);
    if let Some(first) = syntax_errors.first() {
        syntax_error(&mut w, first);
        return Err(w.finish(path));
    }
    let mut settings = None;
    let mut tasks = Vec::new();
    let mut services = Vec::new();
    for (name, value) in document.get_ref() {
        let Some(key) = TOP_KEYS.iter().find(|k| k.name == name.get_ref().as_ref()) else {
            unknown_table(&mut w, name, value);
            continue;
        };
        match key.name {
            "settings" => {
                if let Some(table) = w.table(value, key, "the file") {
                    settings = Some(parse_settings(&mut w, table));
                }
            }
            "tasks" => {
                for (name, value) in units(&mut w, value, key) {
                    tasks.push(parse_task(&mut w, name, value));
                }
            }
            "services" => {
                for (name, value) in units(&mut w, value, key) {
                    services.push(parse_service(&mut w, name, value));
                }
            }
            _ => {}
        }
    }
    let settings =
        settings.unwrap_or_else(|| ParsedSettings { settings: default_settings(&w), default: Vec::new() });
    check_references(&mut w, &settings, &tasks, &services);
    if w.has_errors() {
        return Err(w.finish(path));
    }
    Ok(Project {
        file: path.to_path_buf(),
        root: root.to_path_buf(),
        settings: settings.settings,
        tasks: tasks.into_iter().map(|t| t.spec).collect(),
        services: services.into_iter().map(|s| s.spec).collect(),
        warnings: w.finish(path),
    })
}

/// Top-level keys are tables; a stray `[build]` with a `run` is most likely a task.
fn unknown_table(w: &mut Walker<'_>, name: &toml::Spanned<toml::de::DeString<'_>>, value: &Value<'_>) {
    let text = name.get_ref().as_ref();
    let looks_like_unit =
        matches!(value.get_ref(), DeValue::Table(t) if t.iter().any(|(k, _)| k.get_ref() == "run"));
    let help = match closest(text, TOP_KEYS.iter().map(|k| k.name)) {
        Some(best) => format!("did you mean `{best}`?"),
        None if looks_like_unit => {
            format!("tasks are declared as `[tasks.{text}]`, services as `[services.{text}]`")
        }
        None => "the top level has only `[settings]`, `[tasks.NAME]` and `[services.NAME]`".to_string(),
    };
    w.error(name.span(), format!("unknown table `{text}`"), "unknown table", Some(help));
}

fn syntax_error(w: &mut Walker<'_>, error: &toml::de::Error) {
    let message = error.message().lines().next().unwrap_or("invalid TOML").to_string();
    let help = if message.starts_with("duplicate key") {
        "a key, or a `[table]` header, may appear only once per table"
    } else {
        "fix the TOML syntax here; further syntax errors, if any, are reported after this one is fixed"
    };
    let span = error.span().unwrap_or(0..0);
    w.error(span, format!("invalid TOML: {message}"), "syntax error", Some(help.to_string()));
}

/// The entries of `[tasks]` or `[services]`.
fn units<'t, 'i>(
    w: &mut Walker<'_>,
    value: &'t Value<'i>,
    key: &Key,
) -> impl Iterator<Item = (&'t toml::Spanned<toml::de::DeString<'i>>, &'t Value<'i>)> + use<'t, 'i> {
    let table = if let DeValue::Table(table) = value.get_ref() {
        Some(table)
    } else {
        let kind = key.name.trim_end_matches('s');
        w.error(
            value.span(),
            format!("`{}` must be a table of {}s", key.name, kind),
            "expected a table",
            Some(format!("declare each {kind} under its own header, like `{}`", key.example)),
        );
        None
    };
    table.into_iter().flat_map(|t| t.iter())
}

#[derive(Clone, Copy)]
enum Unit {
    Task(usize),
    Service(usize),
}

fn check_references(
    w: &mut Walker<'_>,
    settings: &ParsedSettings,
    tasks: &[Declared<TaskSpec>],
    services: &[Declared<ServiceSpec>],
) {
    let mut units: HashMap<&str, Unit> = HashMap::with_capacity(tasks.len() + services.len());
    for (i, task) in tasks.iter().enumerate() {
        units.insert(&task.spec.name, Unit::Task(i));
    }
    for (i, service) in services.iter().enumerate() {
        if let Some(Unit::Task(_)) = units.insert(&service.spec.name, Unit::Service(i)) {
            w.error(
                service.name_span.clone(),
                format!("`{}` is both a task and a service", service.spec.name),
                "also declared as a task",
                Some("tasks and services share one namespace; rename one of them".to_string()),
            );
        }
    }
    let all_names =
        || tasks.iter().map(|t| t.spec.name.as_str()).chain(services.iter().map(|s| s.spec.name.as_str()));

    // Unit ids for the graph: tasks first, then services, in file order.
    let id_of = |unit: Unit| match unit {
        Unit::Task(i) => UnitId(i as u32),
        Unit::Service(i) => UnitId((tasks.len() + i) as u32),
    };
    let mut edges: Vec<Vec<UnitId>> = Vec::with_capacity(tasks.len() + services.len());
    let mut dep_spans: Vec<(&[String], &[Range<usize>])> = Vec::with_capacity(tasks.len() + services.len());
    let declared = tasks
        .iter()
        .map(|t| (false, t.spec.name.as_str(), t.spec.deps.as_slice(), t.dep_spans.as_slice()))
        .chain(
            services
                .iter()
                .map(|s| (true, s.spec.name.as_str(), s.spec.deps.as_slice(), s.dep_spans.as_slice())),
        );
    for (is_service, name, deps, spans) in declared {
        let kind = if is_service { "service" } else { "task" };
        let mut unit_edges = Vec::with_capacity(deps.len());
        for (dep, span) in deps.iter().zip(spans) {
            match units.get(dep.as_str()) {
                None => {
                    let help = match closest(dep, all_names()) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => format!("declare it as `[tasks.{dep}]` or `[services.{dep}]`, or remove it"),
                    };
                    w.error(
                        span.clone(),
                        format!("unknown dependency `{dep}` of {kind} `{name}`"),
                        "no task or service has this name",
                        Some(help),
                    );
                }
                Some(Unit::Task(_)) if is_service => w.error(
                    span.clone(),
                    format!("service `{name}` depends on task `{dep}`"),
                    "a task",
                    Some(
                        "services are started before any task runs, so a service may depend on services only"
                            .to_string(),
                    ),
                ),
                Some(unit) => unit_edges.push(id_of(*unit)),
            }
        }
        edges.push(unit_edges);
        dep_spans.push((deps, spans));
    }

    let pools: Vec<&str> = settings.settings.pools.iter().map(|p| p.name.as_str()).collect();
    for task in tasks {
        if let (Some(pool), Some(span)) = (&task.spec.pool, &task.pool_span)
            && !pools.contains(&pool.as_str())
        {
            let help = match closest(pool, pools.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("declare it in `[settings.pools]`, like `{pool} = 3`"),
            };
            w.error(
                span.clone(),
                format!("unknown pool `{pool}` in task `{}`", task.spec.name),
                "no such pool",
                Some(help),
            );
        }
    }

    for (name, span) in &settings.default {
        match units.get(name.as_str()) {
            Some(Unit::Task(_)) => {}
            Some(Unit::Service(_)) => w.error(
                span.clone(),
                format!("`default` in `[settings]` names service `{name}`"),
                "a service",
                Some("`default` lists tasks; services start when a task depends on them".to_string()),
            ),
            None => {
                let help = match closest(name, tasks.iter().map(|t| t.spec.name.as_str())) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => "`default` lists the tasks `volley run` runs when given no names".to_string(),
                };
                w.error(
                    span.clone(),
                    format!("unknown task `{name}` in `default` of `[settings]`"),
                    "no task has this name",
                    Some(help),
                );
            }
        }
    }

    let names: Vec<String> = all_names().map(str::to_string).collect();
    let graph = Graph::new(names, edges);
    if let Some(cycle) = graph.find_cycle() {
        report_cycle(w, &graph, &cycle, &dep_spans);
    }
}

/// One diagnostic, at the first unit's entry for the next unit on the cycle.
fn report_cycle(
    w: &mut Walker<'_>,
    graph: &Graph,
    cycle: &[UnitId],
    dep_spans: &[(&[String], &[Range<usize>])],
) {
    let (Some(&first), Some(&second)) = (cycle.first(), cycle.get(1)) else { return };
    let path: Vec<&str> = cycle.iter().map(|u| graph.name(*u)).collect();
    let (deps, spans) = dep_spans[first.index()];
    let Some(span) = deps.iter().position(|d| d == graph.name(second)).and_then(|i| spans.get(i)) else {
        return;
    };
    let label = if first == second {
        format!("`{}` depends on itself", graph.name(first))
    } else {
        format!("`{}` leads back to `{}`", graph.name(second), graph.name(first))
    };
    w.error(
        span.clone(),
        format!("dependency cycle: {}", path.join(" → ")),
        &label,
        Some("remove one of these dependencies; a cycle can never start".to_string()),
    );
}
