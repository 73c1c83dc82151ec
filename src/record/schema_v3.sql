-- volley history, schema version 3 (applied after version 2). See docs/design/history.md.
-- Service lifecycle events of a `volley up` (recorded as a run whose command is
-- `volley up …`), so `volley report` can show its start-up timeline.

CREATE TABLE service_events (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    t_us        INTEGER NOT NULL,         -- since the run started
    name        TEXT NOT NULL,            -- the service
    event       TEXT NOT NULL,            -- starting, ready, failed, exited, stopping, stopped
    attempt     INTEGER,                  -- starting: 1-based, restarts included
    pid         INTEGER,                  -- starting
    duration_us INTEGER,                  -- ready: time to ready; stopped: time to stop
    detail      TEXT                      -- failed: the reason; stopped: 'killed' when SIGKILLed
);

CREATE INDEX service_events_by_run ON service_events(run_id, t_us);
