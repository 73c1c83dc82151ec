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
