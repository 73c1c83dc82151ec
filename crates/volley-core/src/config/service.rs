//! `[services.NAME]` → [`ServiceSpec`], including the `ready` and `healthcheck`
//! probes (exactly one check of tcp/http/log/command/delay each).

use std::time::Duration;

use super::address::{check_http, check_tcp};
use super::task::{Declared, reject_placeholders};
use super::unit::{SharedKeys, unit_table};
use super::walker::{Key, KeyName, Value, Walker};
use crate::model::{Probe, ProbeCheck, RestartPolicy, ServiceSpec, Signal};

const SERVICE_KEYS: &[Key] = &[
    Key { name: "run", example: r#"run = "redis-server --port 6380""# },
    Key { name: "deps", example: r#"deps = ["redis"]"# },
    Key { name: "description", example: r#"description = "The API""# },
    Key { name: "dir", example: r#"dir = "backend""# },
    Key { name: "env", example: r#"env = { PORT = "8000" }"# },
    Key { name: "ready", example: r#"ready = { tcp = "127.0.0.1:6380" }"# },
    Key { name: "stop_signal", example: r#"stop_signal = "INT""# },
    Key { name: "stop_timeout", example: r#"stop_timeout = "30s""# },
    Key { name: "restart", example: r#"restart = "on-failure""# },
    Key { name: "max_restarts", example: "max_restarts = 3" },
    Key { name: "restart_delay", example: r#"restart_delay = "1s""# },
    Key { name: "healthcheck", example: r#"healthcheck = { http = "http://127.0.0.1:8000/health" }"# },
];

const PROBE_KEYS: &[Key] = &[
    Key { name: "tcp", example: r#"tcp = "127.0.0.1:6380""# },
    Key { name: "http", example: r#"http = "http://127.0.0.1:8000/health""# },
    Key { name: "log", example: r#"log = "ready to accept connections""# },
    Key { name: "command", example: r#"command = "redis-cli ping""# },
    Key { name: "delay", example: r#"delay = "2s""# },
    Key { name: "interval", example: r#"interval = "100ms""# },
    Key { name: "timeout", example: r#"timeout = "60s""# },
    Key { name: "status", example: "status = 200" },
    Key { name: "retries", example: "retries = 3" },
];

const RESTART: [&str; 3] = ["no", "on-failure", "always"];

pub(super) fn parse_service(
    w: &mut Walker<'_>,
    name: &KeyName<'_>,
    value: &Value<'_>,
) -> Declared<ServiceSpec> {
    w.check_name(name, "service");
    let mut spec = ServiceSpec {
        name: name.get_ref().to_string(),
        run: String::new(),
        deps: Vec::new(),
        description: None,
        dir: None,
        env: Vec::new(),
        ready: None,
        stop_signal: Signal::Term,
        stop_timeout: None,
        restart: RestartPolicy::No,
        max_restarts: 0,
        restart_delay: Duration::from_secs(1),
        healthcheck: None,
    };
    let mut declared = Declared { spec: (), name_span: name.span(), dep_spans: Vec::new(), pool_span: None };
    let place = format!("service `{}`", spec.name);
    let Some(table) = unit_table(w, value, &place, "services", &spec.name) else {
        return declared.with(spec);
    };
    let mut shared = SharedKeys::default();
    for (key, _, value) in w.known_entries(table, SERVICE_KEYS, &place) {
        if shared.read(w, key, value, &place) {
            continue;
        }
        match key.name {
            "ready" => spec.ready = probe(w, value, key, &format!("the `ready` probe of {place}"), false),
            "stop_signal" => spec.stop_signal = signal(w, value, key, &place).unwrap_or_default(),
            "stop_timeout" => spec.stop_timeout = w.duration(value, key, &place, false),
            "restart" => {
                spec.restart = match w.choice(value, key, &place, &RESTART) {
                    Some(1) => RestartPolicy::OnFailure,
                    Some(2) => RestartPolicy::Always,
                    _ => RestartPolicy::No,
                };
            }
            "max_restarts" => {
                spec.max_restarts =
                    w.integer(value, key, &place, 0, i64::from(u32::MAX)).map_or(0, |n| n as u32);
            }
            "restart_delay" => {
                spec.restart_delay = w.duration(value, key, &place, false).unwrap_or(Duration::from_secs(1));
            }
            "healthcheck" => {
                spec.healthcheck = probe(w, value, key, &format!("the `healthcheck` of {place}"), true);
            }
            _ => {}
        }
    }
    (spec.run, spec.deps, spec.description, spec.dir, spec.env) =
        (shared.run, shared.deps, shared.description, shared.dir, shared.env);
    declared.dep_spans = shared.dep_spans;
    match shared.run_span {
        None => w.error(
            value.span(),
            format!("missing `run` in {place}"),
            "this service has no `run`",
            Some("add the command that starts it, like `run = \"redis-server\"`".to_string()),
        ),
        Some(span) => {
            let help = "services do not fan out; write the value itself";
            reject_placeholders(w, &spec.run, &span, &place, help);
        }
    }
    declared.with(spec)
}

fn signal(w: &mut Walker<'_>, value: &Value<'_>, key: &Key, place: &str) -> Option<Signal> {
    let name = w.string(value, key, place)?;
    let signal = Signal::from_name(name);
    if signal.is_none() {
        let names: Vec<&str> = Signal::ALL.iter().map(|(n, _)| *n).collect();
        let upper = name.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        let help = match super::walker::closest(bare, names.iter().copied()) {
            Some(best) => format!("did you mean `\"{best}\"`?"),
            None => format!("signals are {}", names.join(", ")),
        };
        w.error(value.span(), format!("unknown signal `{name}` in {place}"), "unknown signal", Some(help));
    }
    signal
}

/// A probe table; `liveness`: it is a `healthcheck`, where `retries` applies.
fn probe(w: &mut Walker<'_>, value: &Value<'_>, key: &Key, place: &str, liveness: bool) -> Option<Probe> {
    let table = w.table(value, key, place)?;
    let mut probe = Probe {
        check: ProbeCheck::Delay(Duration::ZERO),
        interval: Probe::DEFAULT_INTERVAL,
        timeout: Probe::DEFAULT_TIMEOUT,
        retries: Probe::DEFAULT_RETRIES,
    };
    let mut check: Option<&str> = None;
    let mut broken = false;
    let mut status: Option<(u16, std::ops::Range<usize>)> = None;
    for (key, name, value) in w.known_entries(table, PROBE_KEYS, place) {
        let is_check = matches!(key.name, "tcp" | "http" | "log" | "command" | "delay");
        if is_check && let Some(first) = check {
            w.error(
                name.span(),
                format!("{place} has both `{first}` and `{}`", key.name),
                "second check",
                Some("a probe has exactly one of `tcp`, `http`, `log`, `command` or `delay`".to_string()),
            );
            continue;
        }
        let parsed = match key.name {
            "tcp" => address(w, value, key, place, check_tcp).map(ProbeCheck::Tcp),
            "http" => {
                address(w, value, key, place, check_http).map(|url| ProbeCheck::Http { url, status: 200 })
            }
            "log" => log_regex(w, value, key, place),
            "command" => w.string(value, key, place).map(|c| ProbeCheck::Command(c.to_string())),
            "delay" => w.duration(value, key, place, false).map(ProbeCheck::Delay),
            "interval" => {
                probe.interval = w.duration(value, key, place, true).unwrap_or(Probe::DEFAULT_INTERVAL);
                continue;
            }
            "timeout" => {
                probe.timeout = w.duration(value, key, place, true).unwrap_or(Probe::DEFAULT_TIMEOUT);
                continue;
            }
            "status" => {
                status = w.integer(value, key, place, 100, 599).map(|n| (n as u16, value.span()));
                continue;
            }
            "retries" => {
                if liveness {
                    probe.retries = w
                        .integer(value, key, place, 0, i64::from(u32::MAX))
                        .map_or(Probe::DEFAULT_RETRIES, |n| n as u32);
                } else {
                    w.error(
                        name.span(),
                        format!("`retries` in {place}"),
                        "only for `healthcheck`",
                        Some("a `ready` probe retries every `interval` until its `timeout`".to_string()),
                    );
                }
                continue;
            }
            _ => continue,
        };
        check = Some(key.name);
        match parsed {
            Some(parsed) => probe.check = parsed,
            None => broken = true,
        }
    }
    if let Some((code, span)) = status {
        match &mut probe.check {
            ProbeCheck::Http { status, .. } => *status = code,
            _ if check.is_some() => w.error(
                span,
                format!("`status` in {place}, which is not an `http` probe"),
                "only for `http`",
                Some("remove `status`, or probe with `http = \"http://…\"`".to_string()),
            ),
            _ => {}
        }
    }
    if check.is_none() {
        w.error(
            value.span(),
            format!("{place} has no check"),
            "nothing to probe",
            Some("add one of `tcp`, `http`, `log`, `command` or `delay`".to_string()),
        );
        return None;
    }
    (!broken).then_some(probe)
}

fn address(
    w: &mut Walker<'_>,
    value: &Value<'_>,
    key: &Key,
    place: &str,
    check: fn(&str) -> Result<(), String>,
) -> Option<String> {
    let text = w.string(value, key, place)?;
    match check(text) {
        Ok(()) => Some(text.to_string()),
        Err(reason) => {
            let (what, help) = if key.name == "tcp" {
                ("address", "a tcp probe connects to `host:port`, like `127.0.0.1:6380`")
            } else {
                ("URL", "an http probe gets a plain-http URL, like `http://127.0.0.1:8000/health`")
            };
            w.error(value.span(), format!("invalid {what} in {place}"), &reason, Some(help.to_string()));
            None
        }
    }
}

fn log_regex(w: &mut Walker<'_>, value: &Value<'_>, key: &Key, place: &str) -> Option<ProbeCheck> {
    let pattern = w.string(value, key, place)?;
    match regex::Regex::new(pattern) {
        Ok(re) => Some(ProbeCheck::Log(re)),
        Err(e) => {
            // regex's message draws its own caret over the pattern; keep its last line.
            let text = e.to_string();
            let reason = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid regex");
            let reason = reason.trim().trim_start_matches("error: ").to_string();
            w.error(
                value.span(),
                format!("invalid regex in {place}"),
                &reason,
                Some(
                    "`log` is a regular expression (Rust regex syntax); escape special characters with `\\`"
                        .into(),
                ),
            );
            None
        }
    }
}
