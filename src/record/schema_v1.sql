-- volley history, schema version 1. See docs/design/history.md.
-- Times: *_at_us are wall-clock microseconds since the Unix epoch; *_us elsewhere
-- are microseconds since the run started (monotonic), or durations.

CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    run_key       TEXT NOT NULL,
    command       TEXT NOT NULL,          -- JSON array of volley's arguments
    started_at_us INTEGER NOT NULL,
    ended_at_us   INTEGER,                -- NULL while running (or if volley was killed)
    wall_us       INTEGER,
    status        TEXT NOT NULL,          -- running | succeeded | failed | interrupted
    exit_code     INTEGER,
    jobs          INTEGER NOT NULL,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL
);
CREATE INDEX runs_by_key ON runs(run_key);

CREATE TABLE attempts (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,          -- task or instance name
    unit          TEXT NOT NULL,          -- the task it belongs to (`exec` for volley exec)
    instance      INTEGER NOT NULL,       -- 0 for a plain task; 4294967295 lists items
    attempt       INTEGER NOT NULL,       -- 1-based
    slot          INTEGER NOT NULL,
    pid           INTEGER,
    started_us    INTEGER NOT NULL,
    ended_us      INTEGER,                -- NULL while running
    status        TEXT NOT NULL,          -- running | exited | signaled | timed_out | interrupted | spawn_failed
    exit_code     INTEGER,
    signal        INTEGER,
    message       TEXT,
    success       INTEGER,
    retry_in_us   INTEGER,                -- another attempt follows after this delay
    cpu_user_us   INTEGER,
    cpu_system_us INTEGER,
    peak_rss_bytes INTEGER,               -- of the whole process tree (sampling)
    read_bytes    INTEGER,
    written_bytes INTEGER,
    wait_us       INTEGER,                -- time ready but waiting for a slot
    cache_hit     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX attempts_by_run ON attempts(run_id);

CREATE TABLE tasks (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    unit            TEXT NOT NULL,
    instance        INTEGER NOT NULL,
    status          TEXT NOT NULL,        -- succeeded | failed | timed_out | skipped | not_started | interrupted | cached | resumed
    ended_us        INTEGER NOT NULL,
    duration_us     INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    flaky           INTEGER NOT NULL,
    allowed_failure INTEGER NOT NULL,
    needs           TEXT,
    log             TEXT
);
CREATE INDEX tasks_by_run ON tasks(run_id);
-- Medians read the last successful durations of a name: newest ids first.
CREATE INDEX tasks_by_name ON tasks(name, id);

CREATE TABLE samples (
    id                  INTEGER PRIMARY KEY,
    run_id              INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    t_us                INTEGER NOT NULL,
    name                TEXT,             -- NULL: a machine-wide sample
    unit                TEXT,
    instance            INTEGER,
    cpu_percent         REAL,
    rss_bytes           INTEGER,
    read_bytes          INTEGER,
    written_bytes       INTEGER,
    mem_available_bytes INTEGER,
    disk_free_bytes     INTEGER,
    load1               REAL
);
CREATE INDEX samples_by_run ON samples(run_id, t_us);

CREATE TABLE alerts (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    t_us       INTEGER NOT NULL,
    kind       TEXT NOT NULL,             -- memory | disk | slow | budget
    name       TEXT,                      -- the task, if the alert is about one
    message    TEXT NOT NULL,
    value      REAL,
    threshold  REAL
);
CREATE INDEX alerts_by_run ON alerts(run_id);
