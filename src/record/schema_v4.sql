-- volley history, schema version 4 (applied after version 3). See docs/design/history.md.
-- Only a fan-out task's instances are read by unit (`unit = ?1 AND name != unit`): a
-- plain task, whose unit is its name, stays out of `tasks_by_unit`. Each plain task
-- recorded then updates one scattered index page instead of two, which on a long
-- history was a third of what recording costs a run.

DROP INDEX tasks_by_unit;
CREATE INDEX tasks_by_unit ON tasks(unit, run_id) WHERE name != unit;
