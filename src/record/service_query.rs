//! Reading a run's service events (schema v3) for `volley report`.

use rusqlite::Connection;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServiceEventRow {
    /// From the run's start: negative for the services a `volley run` readied before
    /// its first task.
    pub t_us: i64,
    pub name: String,
    pub event: String,
    pub attempt: Option<u32>,
    pub pid: Option<u32>,
    pub duration_us: Option<u64>,
    pub detail: Option<String>,
}

/// The service events of `run`, in time order; empty for runs without services
/// and for histories older than schema 3.
pub fn service_events(conn: &Connection, run: i64) -> rusqlite::Result<Vec<ServiceEventRow>> {
    let exists: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'service_events'",
        [],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut statement = conn.prepare(
        "SELECT t_us, name, event, attempt, pid, duration_us, detail FROM service_events
         WHERE run_id = ?1 ORDER BY t_us, id",
    )?;
    statement
        .query_map([run], |row| {
            Ok(ServiceEventRow {
                t_us: row.get(0)?,
                name: row.get(1)?,
                event: row.get(2)?,
                attempt: row.get(3)?,
                pid: row.get(4)?,
                duration_us: row.get::<_, Option<i64>>(5)?.map(|d| d.max(0) as u64),
                detail: row.get(6)?,
            })
        })?
        .collect()
}

/// The timeline as text lines for `volley report`: each event with its offset from
/// the start of the run (`-0.7s`: before its first task).
pub fn render_timeline(events: &[ServiceEventRow]) -> String {
    use std::fmt::Write;
    if events.is_empty() {
        return String::new();
    }
    let us = |t: u64| volley_core::summary::format_duration(t);
    let width = events.iter().map(|e| e.name.chars().count()).max().unwrap_or(0);
    let mut text = String::from("\nservices (start-up and shutdown timeline):\n");
    for e in events {
        let what = match (e.event.as_str(), e.duration_us) {
            ("starting", _) => format!(
                "starting (attempt {}, pid {})",
                e.attempt.unwrap_or(1),
                e.pid.map_or_else(|| "?".into(), |p| p.to_string())
            ),
            ("ready", Some(d)) => format!("ready after {}", us(d)),
            ("stopped", Some(d)) if e.detail.as_deref() == Some("killed") => {
                format!("stopped in {} (killed after its stop timeout)", us(d))
            }
            ("stopped", Some(d)) => format!("stopped in {}", us(d)),
            ("failed", _) => format!("failed: {}", e.detail.as_deref().unwrap_or("")),
            (other, _) => other.to_owned(),
        };
        let offset = us(e.t_us.unsigned_abs());
        let sign = if e.t_us < 0 && offset != "0ms" { '-' } else { '+' };
        let at = format!("{sign}{offset}");
        let _ = writeln!(text, "  {at:>8}  {:<width$}  {what}", e.name);
    }
    text
}
