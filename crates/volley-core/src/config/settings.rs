//! `[settings]`, `[settings.pools]` and `[settings.alerts]` → [`Settings`].
//!
//! References that need the rest of the file (`default` naming tasks) are returned
//! with their spans and checked in `load`, once every task is known.

use std::ops::Range;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};

use super::walker::{Key, Value, Walker, article};
use crate::model::{Alerts, DotenvFile, ExecutorKind, Pool, Settings};

const SETTINGS_KEYS: &[Key] = &[
    Key { name: "jobs", example: "jobs = 4" },
    Key { name: "shell", example: r#"shell = ["bash", "-eo", "pipefail", "-c"]"# },
    Key { name: "fail_fast", example: "fail_fast = true" },
    Key { name: "kill_timeout", example: r#"kill_timeout = "10s""# },
    Key { name: "sample_interval", example: r#"sample_interval = "250ms""# },
    Key { name: "default", example: r#"default = ["build"]"# },
    Key { name: "env", example: r#"env = { LANG = "C.UTF-8" }"# },
    Key { name: "dotenv", example: r#"dotenv = [".env", "?.env.local"]"# },
    Key { name: "state_dir", example: r#"state_dir = ".volley""# },
    Key { name: "keep_logs", example: "keep_logs = 100" },
    Key { name: "pools", example: "pools = { network = 3 }" },
    Key { name: "alerts", example: r#"alerts = { min_free_memory = "500MiB" }"# },
    Key { name: "executor", example: r#"executor = "local""# },
];

const ALERTS_KEYS: &[Key] = &[
    Key { name: "min_free_memory", example: r#"min_free_memory = "500MiB""# },
    Key { name: "min_free_disk", example: r#"min_free_disk = "5GiB""# },
    Key { name: "slow_factor", example: "slow_factor = 1.5" },
    Key { name: "regression", example: "regression = 0.20" },
];

pub(super) const EXECUTORS: [&str; 2] = ["local", "slurm"];

pub(super) fn executor_kind(index: usize) -> ExecutorKind {
    if index == 1 { ExecutorKind::Slurm } else { ExecutorKind::Local }
}

/// The file format knows the Slurm executor (SPEC §7), this volley does not run it:
/// an error, because running such tasks locally instead could overload the machine
/// the user meant to spare.
pub(super) fn slurm_unavailable(w: &mut Walker<'_>, span: Range<usize>) {
    w.error(
        span,
        "`executor = \"slurm\"` is not available in this version of volley".to_string(),
        "Slurm executor requested here",
        Some("remove `executor` to run tasks on this machine".to_string()),
    );
}

/// Settings plus the spans `load` needs for cross-checks.
pub(super) struct ParsedSettings {
    pub settings: Settings,
    /// `default` entries with their spans.
    pub default: Vec<(String, Range<usize>)>,
}

pub(super) fn default_settings(w: &Walker<'_>) -> Settings {
    Settings {
        jobs: None,
        shell: Settings::DEFAULT_SHELL.iter().map(ToString::to_string).collect(),
        fail_fast: true,
        kill_timeout: Settings::DEFAULT_KILL_TIMEOUT,
        sample_interval: Settings::DEFAULT_SAMPLE_INTERVAL,
        default: Vec::new(),
        env: Vec::new(),
        dotenv: Vec::new(),
        state_dir: w.root.join(Settings::DEFAULT_STATE_DIR),
        keep_logs: Settings::DEFAULT_KEEP_LOGS,
        pools: Vec::new(),
        alerts: Alerts::default(),
        executor: ExecutorKind::Local,
    }
}

pub(super) fn parse_settings(w: &mut Walker<'_>, table: &DeTable<'_>) -> ParsedSettings {
    let place = "`[settings]`";
    let mut s = default_settings(w);
    let mut default = Vec::new();
    for (key, _, value) in w.known_entries(table, SETTINGS_KEYS, place) {
        match key.name {
            "jobs" => s.jobs = w.integer(value, key, place, 1, i64::from(u32::MAX)).map(|n| n as usize),
            "shell" => {
                if let Some(words) = w.strings(value, key, place) {
                    if words.first().is_none_or(|(first, _)| first.is_empty()) {
                        w.error(
                            value.span(),
                            "empty `shell` in `[settings]`".to_string(),
                            "needs at least a program",
                            Some(format!("write it like `{}`", key.example)),
                        );
                    } else {
                        s.shell = words.into_iter().map(|(word, _)| word).collect();
                    }
                }
            }
            "fail_fast" => s.fail_fast = w.boolean(value, key, place).unwrap_or(true),
            "kill_timeout" => {
                s.kill_timeout =
                    w.duration(value, key, place, false).unwrap_or(Settings::DEFAULT_KILL_TIMEOUT);
            }
            "sample_interval" => {
                s.sample_interval =
                    w.duration(value, key, place, false).unwrap_or(Settings::DEFAULT_SAMPLE_INTERVAL);
            }
            "default" => default = w.strings(value, key, place).unwrap_or_default(),
            "env" => s.env = w.env(value, key, place),
            "dotenv" => s.dotenv = dotenv(w, value, key),
            "state_dir" => {
                if let Some(dir) = w.string(value, key, place) {
                    s.state_dir = w.root.join(dir);
                }
            }
            "keep_logs" => {
                s.keep_logs = w
                    .integer(value, key, place, 1, i64::from(u32::MAX))
                    .map_or(Settings::DEFAULT_KEEP_LOGS, |n| n as usize);
            }
            "pools" => s.pools = pools(w, value, key),
            "alerts" => s.alerts = alerts(w, value, key),
            "executor" => {
                s.executor =
                    w.choice(value, key, place, &EXECUTORS).map_or(ExecutorKind::Local, executor_kind);
                if s.executor == ExecutorKind::Slurm {
                    slurm_unavailable(w, value.span());
                }
            }
            _ => {}
        }
    }
    s.default = default.iter().map(|(name, _)| name.clone()).collect();
    ParsedSettings { settings: s, default }
}

fn dotenv(w: &mut Walker<'_>, value: &Value<'_>, key: &Key) -> Vec<DotenvFile> {
    let entries = w.strings(value, key, "`[settings]`").unwrap_or_default();
    let mut files = Vec::with_capacity(entries.len());
    for (entry, span) in entries {
        let (optional, name) = match entry.strip_prefix('?') {
            Some(rest) => (true, rest),
            None => (false, entry.as_str()),
        };
        let path: PathBuf = w.file(span, name, "dotenv file", optional, true);
        files.push(DotenvFile { path, optional });
    }
    files
}

fn pools(w: &mut Walker<'_>, value: &Value<'_>, key: &Key) -> Vec<Pool> {
    let Some(table) = w.table(value, key, "`[settings]`") else { return Vec::new() };
    let mut pools = Vec::with_capacity(table.len());
    for (name, limit) in table {
        let name = name.get_ref().as_ref();
        let help = Some(format!("a pool is a name and a limit of at least 1, like `{name} = 3`"));
        let DeValue::Integer(n) = limit.get_ref() else {
            let label = format!("expected an integer, found {}", article(limit.get_ref()));
            w.error(limit.span(), format!("wrong type for the limit of pool `{name}`"), &label, help);
            continue;
        };
        match i64::from_str_radix(&n.as_str().replace('_', ""), n.radix()) {
            Ok(n) if (1..=i64::from(u32::MAX)).contains(&n) => {
                pools.push(Pool { name: name.to_string(), limit: n as usize });
            }
            _ => {
                w.error(limit.span(), format!("invalid limit for pool `{name}`"), "must be at least 1", help);
            }
        }
    }
    pools
}

fn alerts(w: &mut Walker<'_>, value: &Value<'_>, key: &Key) -> Alerts {
    let place = "`[settings.alerts]`";
    let mut alerts = Alerts::default();
    let Some(table) = w.table(value, key, "`[settings]`") else { return alerts };
    for (key, _, value) in w.known_entries(table, ALERTS_KEYS, place) {
        match key.name {
            "min_free_memory" => alerts.min_free_memory = w.size(value, key, place),
            "min_free_disk" => alerts.min_free_disk = w.size(value, key, place),
            "slow_factor" => match w.number(value, key, place) {
                Some(n) if n > 1.0 => alerts.slow_factor = n,
                Some(_) => w.error(
                    value.span(),
                    "`slow_factor` in `[settings.alerts]` must be greater than 1".to_string(),
                    "must be greater than 1",
                    Some("it is a multiple of the usual duration, like `slow_factor = 1.5`".to_string()),
                ),
                None => {}
            },
            "regression" => match w.number(value, key, place) {
                Some(n) if n > 0.0 && n < 10.0 => alerts.regression = n,
                Some(_) => w.error(
                    value.span(),
                    "`regression` in `[settings.alerts]` is out of range".to_string(),
                    "must be greater than 0 and less than 10",
                    Some(
                        "it is a fraction of the baseline: `regression = 0.20` means 20% slower".to_string(),
                    ),
                ),
                None => {}
            },
            _ => {}
        }
    }
    alerts
}
