-- volley history, schema version 5 (applied after version 4). See docs/design/history.md.
-- Each task name's last successful durations in one small row, in place of the index
-- tasks_by_name. That index took one entry per task per run, so each recorded task
-- rewrote a page of its own in a B-tree that grew with the history: on a 2000-task
-- graph, most of what recording wrote. A baseline row is rewritten instead, in a
-- table as big as the project, not as its past.

CREATE TABLE baselines (
    name   TEXT PRIMARY KEY,              -- task or instance name
    recent TEXT NOT NULL                  -- JSON array of [run_id, duration_us], oldest first:
                                          -- its last 11 successful, not flaky, runs
) WITHOUT ROWID;

INSERT INTO baselines (name, recent)
SELECT name, json_group_array(json_array(run_id, duration_us) ORDER BY id)
FROM (SELECT name, run_id, duration_us, id,
             row_number() OVER (PARTITION BY name ORDER BY id DESC) AS newest
      FROM tasks WHERE status = 'succeeded' AND flaky = 0)
WHERE newest <= 11
GROUP BY name;

DROP INDEX tasks_by_name;
