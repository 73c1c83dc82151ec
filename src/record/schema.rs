//! Opening `history.db`: connection settings and schema migrations.
//!
//! Writers get WAL (readers never block the writer), `synchronous=NORMAL` (a commit
//! survives a crash or SIGKILL of volley; only power loss can drop the last ones),
//! `busy_timeout` (six volleys in one project take turns) and foreign keys.
//! Migrations run in one IMMEDIATE transaction keyed on `PRAGMA user_version`, so two
//! volleys starting together never both migrate. Readers open read-only and never
//! create the file.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

/// The schema this volley writes. Each step upgrades from the version before it.
pub const SCHEMA_VERSION: i64 = 6;
const MIGRATIONS: [&str; 6] = [
    include_str!("schema_v1.sql"),
    include_str!("schema_v2.sql"),
    include_str!("schema_v3.sql"),
    include_str!("schema_v4.sql"),
    include_str!("schema_v5.sql"),
    include_str!("schema_v6.sql"),
];

/// How long a writer waits for another volley's transaction before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub const FILE_NAME: &str = "history.db";

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot create {path}: {source}")]
    StateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Database {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path} was written by a newer volley (schema {found}, this volley knows {SCHEMA_VERSION})")]
    NewerSchema { path: String, found: i64 },
}

/// Opens (creating if needed) the history of `state_dir` for writing, migrated to
/// [`SCHEMA_VERSION`].
pub fn open_for_writing(state_dir: &Path) -> Result<Connection, RecordError> {
    std::fs::create_dir_all(state_dir)
        .map_err(|source| RecordError::StateDir { path: state_dir.display().to_string(), source })?;
    let path = state_dir.join(FILE_NAME);
    let shown = path.display().to_string();
    let db = |source| RecordError::Database { path: shown.clone(), source };
    let mut conn = Connection::open(&path).map_err(db)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(db)?;
    // Persistent once set; a filesystem without shared memory keeps its old mode,
    // which still works (only slower under concurrency), so the answer is not checked.
    let _mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(db)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(db)?;
    // The log's file shrinks back to nothing whenever the log starts over.
    conn.pragma_update(None, "journal_size_limit", 0).map_err(db)?;
    migrate(&mut conn, &shown)?;
    Ok(conn)
}

/// From this size on, a write-ahead log left by the last run is folded into the
/// database by the next writer ([`fold_in_large_log`]).
const WAL_FOLDED_FROM: u64 = 256 << 10;

/// Closes a connection opened by [`open_for_writing`], leaving the write-ahead log in
/// place. `SQLite`'s checkpoint at close would copy the log into the database, sync
/// both files and delete the log: on a 2000-task run that was 8 ms, a run's whole
/// end, spent waiting for the disk (two `fsync`s and the unlink of a 4 MB file). The
/// next writer reads the log back to index it (the frames since it was last reset:
/// 1–4 ms after a 2000-task run, on the thread that opens the history while the file
/// is parsed) and folds it in off the critical path. Committed runs are safe from a
/// crash of volley either way; a power cut before the next run or the kernel's own
/// write-back can lose the runs still only in the log (`synchronous = NORMAL`, as
/// before), never corrupt the file.
pub fn close(conn: Connection) {
    let _ = conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true);
    drop(conn);
}

/// Folds a write-ahead log of [`WAL_FOLDED_FROM`] or more into the database (a
/// passive checkpoint: it never waits for a reader). The recorder calls it on its
/// own thread after the run's first commit. The next commit then starts the log over
/// and, with `journal_size_limit = 0`, truncates its file, so the file's size keeps
/// telling how much has been written to the log since. Returns whether it folded.
pub fn fold_in_large_log(conn: &Connection, state_dir: &Path) -> rusqlite::Result<bool> {
    let wal = state_dir.join(format!("{FILE_NAME}-wal"));
    if !wal.metadata().is_ok_and(|m| m.len() >= WAL_FOLDED_FROM) {
        return Ok(false);
    }
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(true)
}

fn migrate(conn: &mut Connection, shown: &str) -> Result<(), RecordError> {
    let db = |source| RecordError::Database { path: shown.to_string(), source };
    // Cheap check first: the common case takes no write lock.
    if user_version(conn).map_err(db)? == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let found = user_version(&tx).map_err(db)?;
    if found > SCHEMA_VERSION {
        return Err(RecordError::NewerSchema { path: shown.to_string(), found });
    }
    for step in &MIGRATIONS[usize::try_from(found).unwrap_or(0)..] {
        tx.execute_batch(step).map_err(db)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(db)?;
    tx.commit().map_err(db)
}

/// Whether table `table` has column `column` (see [`has_table`]).
pub(super) fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    conn.query_row("SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2", [table, column], |row| {
        row.get(0)
    })
}

/// Whether the file has table `name`: readers do not migrate, so a history written
/// by an older volley may lack a newer schema's tables.
pub(super) fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |row| row.get(0),
    )
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Opens the history of `state_dir` read-only; `None` when there is none yet (or it
/// cannot be read, which the next recording run will report).
pub fn open_for_reading(state_dir: &Path) -> Option<Connection> {
    let path = state_dir.join(FILE_NAME);
    if !path.is_file() {
        return None;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&path, flags).ok()?;
    conn.busy_timeout(BUSY_TIMEOUT).ok()?;
    (user_version(&conn).ok()? >= 1).then_some(conn)
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "schema_v3_tests.rs"]
mod tests_v3;

#[cfg(test)]
#[path = "schema_v4_tests.rs"]
mod tests_v4;

#[cfg(test)]
#[path = "schema_v5_tests.rs"]
mod tests_v5;
