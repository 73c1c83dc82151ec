//! `[tasks.NAME]` → [`TaskSpec`], including `for_each`, `slurm` and the placeholder
//! rules (`{item}` needs `for_each`; `for_each` needs `{item}` or `{items}`;
//! `batch > 1` needs `{items}`).
//!
//! Names of other units (`deps`, `pool`) are kept with their spans and resolved in
//! `load`, once every table has been read.

use std::ops::Range;

use toml::de::DeValue;

use super::settings::{EXECUTORS, executor_kind, slurm_unavailable};
use super::unit::{SharedKeys, unit_table};
use super::walker::{Key, KeyName, Value, Walker};
use crate::model::{ExecutorKind, ForEach, SlurmSpec, TaskSpec};

const TASK_KEYS: &[Key] = &[
    Key { name: "run", example: r#"run = "make build""# },
    Key { name: "deps", example: r#"deps = ["setup"]"# },
    Key { name: "description", example: r#"description = "Build the site""# },
    Key { name: "dir", example: r#"dir = "site""# },
    Key { name: "env", example: r#"env = { RUST_LOG = "info" }"# },
    Key { name: "timeout", example: r#"timeout = "10m""# },
    Key { name: "retries", example: "retries = 2" },
    Key { name: "retry_delay", example: r#"retry_delay = "2s""# },
    Key { name: "allow_failure", example: "allow_failure = true" },
    Key { name: "success_codes", example: "success_codes = [0, 3]" },
    Key { name: "pool", example: r#"pool = "network""# },
    Key { name: "budget", example: r#"budget = "90s""# },
    Key { name: "sources", example: r#"sources = ["src/**/*.rs"]"# },
    Key { name: "outputs", example: r#"outputs = ["dist/**"]"# },
    Key { name: "for_each", example: r#"for_each = { items = ["a", "b"] }"# },
    Key { name: "jobs", example: "jobs = 5" },
    Key { name: "batch", example: "batch = 10" },
    Key { name: "executor", example: r#"executor = "slurm""# },
    Key { name: "slurm", example: r#"slurm = { partition = "gpu", cpus = 4, mem = "16G" }"# },
];

const FOR_EACH_KEYS: &[Key] = &[
    Key { name: "items", example: r#"items = ["a", "b"]"# },
    Key { name: "command", example: r#"command = "ls packages""# },
    Key { name: "file", example: r#"file = "packages.txt""# },
];

const SLURM_KEYS: &[Key] = &[
    Key { name: "partition", example: r#"partition = "gpu""# },
    Key { name: "cpus", example: "cpus = 4" },
    Key { name: "mem", example: r#"mem = "16G""# },
];

/// A unit as declared, with the spans `load` needs to check references to others.
pub(super) struct Declared<T> {
    pub spec: T,
    pub name_span: Range<usize>,
    /// One span per entry of `spec.deps`.
    pub dep_spans: Vec<Range<usize>>,
    pub pool_span: Option<Range<usize>>,
}

pub(super) fn parse_task(w: &mut Walker<'_>, name: &KeyName<'_>, value: &Value<'_>) -> Declared<TaskSpec> {
    w.check_name(name, "task");
    let mut spec = TaskSpec {
        name: name.get_ref().to_string(),
        run: String::new(),
        deps: Vec::new(),
        description: None,
        dir: None,
        env: Vec::new(),
        timeout: None,
        retries: 0,
        retry_delay: TaskSpec::DEFAULT_RETRY_DELAY,
        allow_failure: false,
        success_codes: vec![0],
        pool: None,
        budget: None,
        sources: Vec::new(),
        outputs: Vec::new(),
        for_each: None,
        jobs: None,
        batch: 1,
        executor: None,
        slurm: None,
    };
    let mut declared = Declared { spec: (), name_span: name.span(), dep_spans: Vec::new(), pool_span: None };
    let place = format!("task `{}`", spec.name);
    let Some(table) = unit_table(w, value, &place, "tasks", &spec.name) else { return declared.with(spec) };
    let mut shared = SharedKeys::default();
    let mut for_each_span = None;
    let mut batch_span = None;
    let mut cache_span = None;
    let mut jobs_span = None;
    for (key, _, value) in w.known_entries(table, TASK_KEYS, &place) {
        if shared.read(w, key, value, &place) {
            continue;
        }
        match key.name {
            "timeout" => spec.timeout = w.duration(value, key, &place, true),
            "retries" => {
                spec.retries = w.integer(value, key, &place, 0, i64::from(u32::MAX)).map_or(0, |n| n as u32);
            }
            "retry_delay" => {
                spec.retry_delay =
                    w.duration(value, key, &place, false).unwrap_or(TaskSpec::DEFAULT_RETRY_DELAY);
            }
            "allow_failure" => spec.allow_failure = w.boolean(value, key, &place).unwrap_or(false),
            "success_codes" => spec.success_codes = success_codes(w, value, key, &place),
            "pool" => {
                spec.pool = w.string(value, key, &place).map(str::to_string);
                declared.pool_span = Some(value.span());
            }
            "budget" => spec.budget = w.duration(value, key, &place, true),
            "sources" | "outputs" => {
                let patterns = globs(w, value, key, &place);
                if !patterns.is_empty() && cache_span.is_none() {
                    cache_span = Some(value.span());
                }
                if key.name == "sources" { spec.sources = patterns } else { spec.outputs = patterns }
            }
            "for_each" => {
                spec.for_each = for_each(w, value, key, &place);
                for_each_span = Some(value.span());
            }
            "jobs" => {
                spec.jobs = w.integer(value, key, &place, 1, i64::from(u32::MAX)).map(|n| n as usize);
                jobs_span = Some(value.span());
            }
            "batch" => {
                spec.batch = w.integer(value, key, &place, 1, i64::from(u32::MAX)).map_or(1, |n| n as usize);
                batch_span = Some(value.span());
            }
            "executor" => {
                spec.executor = w.choice(value, key, &place, &EXECUTORS).map(executor_kind);
                if spec.executor == Some(ExecutorKind::Slurm) {
                    slurm_unavailable(w, value.span());
                }
            }
            "slurm" => {
                spec.slurm = slurm(w, value, key, &place);
                w.warning(
                    value.span(),
                    format!(
                        "`slurm` of {place} has no effect: this version of volley runs every task locally"
                    ),
                    "ignored",
                    None,
                );
            }
            _ => {}
        }
    }
    let run_span = shared.run_span;
    (spec.run, spec.deps, spec.description, spec.dir, spec.env) =
        (shared.run, shared.deps, shared.description, shared.dir, shared.env);
    declared.dep_spans = shared.dep_spans;
    if let Some(span) = cache_span {
        // Running every time is the safe reading of a cache this volley does not have.
        w.warning(
            span,
            format!("{place} has `sources`/`outputs`, but this version of volley has no cache"),
            "the task runs every time",
            Some("remove them, or keep them for a later volley with caching".to_string()),
        );
    }
    match run_span {
        None => w.error(
            value.span(),
            format!("missing `run` in {place}"),
            "this task has no `run`",
            Some("add the command to run, like `run = \"make build\"`".to_string()),
        ),
        Some(run_span) => {
            check_placeholders(w, &spec, &place, &run_span, for_each_span.clone(), batch_span.clone());
        }
    }
    if spec.for_each.is_none() && for_each_span.is_none() {
        for (span, key) in [(jobs_span, "jobs"), (batch_span, "batch")] {
            if let Some(span) = span {
                w.warning(
                    span,
                    format!("`{key}` has no effect in {place}, which has no `for_each`"),
                    "ignored",
                    Some(format!("`{key}` applies to the instances of a fan-out task; remove it")),
                );
            }
        }
    }
    declared.with(spec)
}

impl Declared<()> {
    pub(super) fn with<T>(self, spec: T) -> Declared<T> {
        Declared { spec, name_span: self.name_span, dep_spans: self.dep_spans, pool_span: self.pool_span }
    }
}

/// `{item}` without `for_each` (here or in a service) is an error at the placeholder.
pub(super) fn reject_placeholders(
    w: &mut Walker<'_>,
    run: &str,
    run_span: &Range<usize>,
    place: &str,
    help: &str,
) {
    for placeholder in ["{item}", "{items}"] {
        if run.contains(placeholder) {
            let span = w.sub_span(run_span, placeholder);
            w.error(
                span,
                format!("`{placeholder}` in {place}, which has no `for_each`"),
                "no item to put here",
                Some(help.to_string()),
            );
        }
    }
}

fn check_placeholders(
    w: &mut Walker<'_>,
    spec: &TaskSpec,
    place: &str,
    run_span: &Range<usize>,
    for_each_span: Option<Range<usize>>,
    batch_span: Option<Range<usize>>,
) {
    let Some(for_each_span) = for_each_span else {
        let help = "add `for_each = { items = [...] }` to fan the task out, or remove the placeholder";
        reject_placeholders(w, &spec.run, run_span, place, help);
        return;
    };
    let has_item = spec.run.contains("{item}");
    let has_items = spec.run.contains("{items}");
    if !has_item && !has_items {
        w.error(
            for_each_span,
            format!("`for_each` in {place}, but `run` uses neither `{{item}}` nor `{{items}}`"),
            "items that go nowhere",
            Some("put `{item}` in `run` where each item goes (it is substituted shell-quoted)".to_string()),
        );
    } else if spec.batch > 1 && !has_items {
        w.error(
            batch_span.unwrap_or(for_each_span),
            format!("`batch = {}` in {place} needs `{{items}}` in `run`", spec.batch),
            "several items per instance",
            Some("with `batch` > 1 use `{items}` (the batch, space-separated and shell-quoted)".to_string()),
        );
    }
}

fn success_codes(w: &mut Walker<'_>, value: &Value<'_>, key: &Key, place: &str) -> Vec<i32> {
    let DeValue::Array(items) = value.get_ref() else {
        w.wrong_type(value, key, place, "an array of exit codes");
        return vec![0];
    };
    if items.is_empty() {
        w.error(
            value.span(),
            format!("empty `success_codes` in {place}"),
            "no exit code would count as success",
            Some(format!("list at least one exit code, like `{}`", key.example)),
        );
        return vec![0];
    }
    items.iter().filter_map(|item| w.integer(item, key, place, 0, 255)).map(|n| n as i32).collect()
}

fn globs(w: &mut Walker<'_>, value: &Value<'_>, key: &Key, place: &str) -> Vec<String> {
    w.strings(value, key, place).unwrap_or_default().into_iter().map(|(glob, _)| glob).collect()
}

fn for_each(w: &mut Walker<'_>, value: &Value<'_>, key: &Key, task: &str) -> Option<ForEach> {
    let table = w.table(value, key, task)?;
    let place = format!("`for_each` of {task}");
    let mut found: Option<(ForEach, &str)> = None;
    let mut broken = false;
    for (key, name, value) in w.known_entries(table, FOR_EACH_KEYS, &place) {
        if let Some((_, first)) = &found {
            w.error(
                name.span(),
                format!("{place} has both `{first}` and `{}`", key.name),
                "second source of items",
                Some("use exactly one of `items`, `command` or `file`".to_string()),
            );
            continue;
        }
        let source = match key.name {
            "items" => items(w, value, key, &place).map(ForEach::Items),
            "command" => w.string(value, key, &place).map(|c| ForEach::Command(c.to_string())),
            "file" => w
                .string(value, key, &place)
                .map(|f| ForEach::File(w.file(value.span(), f, "`for_each` file", false, false))),
            _ => None,
        };
        match source {
            Some(source) => found = Some((source, key.name)),
            None => broken = true,
        }
    }
    if found.is_none() && !broken {
        w.error(
            value.span(),
            format!("{place} has no source of items"),
            "no `items`, `command` or `file`",
            Some(r#"use one of `items = ["a", "b"]`, `command = "…"` or `file = "items.txt"`"#.to_string()),
        );
    }
    found.map(|(source, _)| source)
}

fn items(w: &mut Walker<'_>, value: &Value<'_>, key: &Key, place: &str) -> Option<Vec<String>> {
    let DeValue::Array(items) = value.get_ref() else {
        w.wrong_type(value, key, place, "an array of strings");
        return None;
    };
    if items.is_empty() {
        w.warning(
            value.span(),
            format!("empty `items` in {place}"),
            "no items",
            Some("the task will run no instances; add items or remove it".to_string()),
        );
    }
    Some(items.iter().filter_map(|item| w.scalar_text(item, key, place)).collect())
}

fn slurm(w: &mut Walker<'_>, value: &Value<'_>, key: &Key, task: &str) -> Option<SlurmSpec> {
    let table = w.table(value, key, task)?;
    let place = format!("`slurm` of {task}");
    let mut slurm = SlurmSpec::default();
    for (key, _, value) in w.known_entries(table, SLURM_KEYS, &place) {
        match key.name {
            "partition" => slurm.partition = w.string(value, key, &place).map(str::to_string),
            "cpus" => slurm.cpus = w.integer(value, key, &place, 1, i64::from(u32::MAX)).map(|n| n as u32),
            "mem" => {
                let Some(mem) = w.string(value, key, &place) else { continue };
                let digits = mem.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
                if mem.len() - digits.len() <= 1
                    && !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit())
                {
                    slurm.mem = Some(mem.to_string());
                } else {
                    w.error(
                        value.span(),
                        format!("invalid `mem` in {place}"),
                        "not a Slurm memory size",
                        Some(
                            "Slurm sizes are a whole number with an optional K, M, G or T: `16G`".to_string(),
                        ),
                    );
                }
            }
            _ => {}
        }
    }
    Some(slurm)
}
