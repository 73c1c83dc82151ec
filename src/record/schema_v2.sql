-- volley history, schema version 2 (applied after version 1). See docs/design/history.md.
-- The run's graph as planned at its start, so another terminal (`volley status`) can
-- count what remains and compare running tasks with their usual duration.

CREATE TABLE run_units (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    unit        INTEGER NOT NULL,         -- the unit's index in this run's graph
    name        TEXT NOT NULL,            -- task name
    deps        TEXT NOT NULL,            -- JSON array of the names of the tasks it needs
    expected_us INTEGER,                  -- median from history when the run started
    instances   INTEGER,                  -- for_each / exec: instance count once known
    PRIMARY KEY (run_id, unit)
);

-- A fan-out task is recorded through its instances (`unit` = the task): its
-- per-instance medians and last instance count are read by unit.
CREATE INDEX tasks_by_unit ON tasks(unit, run_id);
