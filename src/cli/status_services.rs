//! The services section of `volley status`: asks the supervisor for each service's
//! state, PID, uptime, restarts and last probe, and measures CPU and memory of each
//! service's process tree from `/proc` with the sampler's process-tree attribution.
//! With no supervisor running it says so and removes stale PID files (never
//! signalling a pid whose start time is not the recorded one).

use std::fmt::Write;
use std::time::Duration;

use serde_json::json;
use volley_core::model::Project;

use super::CliError;
use super::status::Section;
use crate::sample::{Attribution, ProcessEntry, system_reader, totals};
use crate::service::{Client, Request, Response, ServiceReport, SupervisorPaths, pids};
use crate::ui::format_duration;

/// How long a supervisor may take to answer `status`.
const STATUS_WAIT: Duration = Duration::from_secs(5);

/// The window over which CPU use is measured.
const CPU_WINDOW: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    cpu_percent: f64,
    rss_bytes: u64,
}

pub fn section(project: &Project) -> Result<Section, CliError> {
    let paths = SupervisorPaths::new(&project.settings.state_dir);
    let answer = Client::connect(&paths).map(|mut client| {
        client.set_timeout(STATUS_WAIT)?;
        client.request(Request::Status)
    });
    let (supervisor_pid, services) = match answer {
        None => {
            let (removed, orphans) = pids::clean_stale(&paths.pids, false);
            let mut text = "services: no supervisor is running (start one with `volley up -d`)\n".to_owned();
            if removed > 0 {
                let _ = writeln!(text, "  removed {removed} stale PID file(s)");
            }
            for orphan in &orphans {
                let _ = writeln!(
                    text,
                    "  pid {} is still running from a supervisor that died ({}); `volley down` stops it",
                    orphan.pid,
                    orphan.path.display()
                );
            }
            let orphans: Vec<u32> = orphans.iter().map(|o| o.pid).collect();
            let json = json!({ "supervisor": null, "services": [], "orphans": orphans });
            return Ok(Section { key: "services", text, json });
        }
        Some(Ok(Response::Status { supervisor_pid, services })) => (supervisor_pid, services),
        Some(Ok(other)) => {
            return Err(CliError::Runtime(format!("unexpected answer from the supervisor: {other:?}")));
        }
        Some(Err(e)) => return Err(CliError::Runtime(format!("the supervisor did not answer: {e}"))),
    };
    let usage = measure(&project.settings.state_dir, &services);
    let text = render(supervisor_pid, &services, &usage);
    let json = json!({
        "supervisor": { "pid": supervisor_pid, "socket": paths.socket.display().to_string() },
        "services": services.iter().zip(&usage).map(|(s, u)| json!({
            "name": s.name,
            "state": s.state.as_str(),
            "pid": s.pid,
            "uptime_us": s.uptime_us,
            "restarts": s.restarts,
            "time_to_ready_us": s.time_to_ready_us,
            "last_probe": s.last_probe.as_ref().map(|p| json!({
                "ok": p.ok, "message": p.message, "latency_us": p.latency_us,
            })),
            "cpu_percent": u.map(|u| (u.cpu_percent * 10.0).round() / 10.0),
            "rss_bytes": u.map(|u| u.rss_bytes),
        })).collect::<Vec<_>>(),
    });
    Ok(Section { key: "services", text, json })
}

/// CPU and memory of each running service's tree; `None` where it has no process or
/// there is no `/proc`.
fn measure(state_dir: &std::path::Path, services: &[ServiceReport]) -> Vec<Option<Usage>> {
    let leaders: Vec<u32> = services.iter().filter_map(|s| s.pid).collect();
    let Some(mut reader) = system_reader(state_dir.to_path_buf()).filter(|_| !leaders.is_empty()) else {
        return vec![None; services.len()];
    };
    let mut attribution = Attribution::default();
    let mut table: Vec<ProcessEntry> = Vec::new();
    let mut pass = |reader: &mut Box<dyn crate::sample::ResourceReader>| {
        reader.processes(&mut table);
        let owner = attribution.attribute(&table, &leaders).to_vec();
        totals(&table, &owner, leaders.len())
    };
    let before = pass(&mut reader);
    std::thread::sleep(CPU_WINDOW);
    let after = pass(&mut reader);
    let ticks = reader.ticks_per_second().max(1) as f64;
    let mut by_leader = leaders.iter().zip(before.iter().zip(&after));
    services
        .iter()
        .map(|s| {
            let pid = s.pid?;
            let (_, (b, a)) = by_leader.find(|(l, _)| **l == pid)?;
            let cpu_s = a.cpu_ticks.saturating_sub(b.cpu_ticks) as f64 / ticks;
            Some(Usage { cpu_percent: 100.0 * cpu_s / CPU_WINDOW.as_secs_f64(), rss_bytes: a.rss_bytes })
        })
        .collect()
}

fn render(supervisor_pid: u32, services: &[ServiceReport], usage: &[Option<Usage>]) -> String {
    let mut rows =
        vec![["SERVICE", "STATE", "PID", "UPTIME", "RESTARTS", "CPU", "MEM", "LAST PROBE"].map(String::from)];
    for (s, u) in services.iter().zip(usage) {
        let dash = || "-".to_owned();
        rows.push([
            s.name.clone(),
            s.state.as_str().to_owned(),
            s.pid.map_or_else(dash, |p| p.to_string()),
            s.uptime_us.map_or_else(dash, |t| format_duration(Duration::from_micros(t))),
            s.restarts.to_string(),
            u.map_or_else(dash, |u| format!("{:.1}%", u.cpu_percent)),
            u.map_or_else(dash, |u| format!("{:.1} MiB", u.rss_bytes as f64 / 1_048_576.0)),
            s.last_probe.as_ref().map_or_else(dash, |p| {
                let verdict = if p.ok { "ok" } else { "failing" };
                format!(
                    "{verdict} in {} ({})",
                    format_duration(Duration::from_micros(p.latency_us)),
                    p.message
                )
            }),
        ]);
    }
    let widths: Vec<usize> =
        (0..8).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut text = format!("services (supervisor pid {supervisor_pid}):\n");
    for row in rows {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        let _ = writeln!(text, "  {}", line.join("  ").trim_end());
    }
    text
}
