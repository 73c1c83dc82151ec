-- volley history, schema version 6 (applied after version 5). See docs/design/history.md.
-- Each planned task's pool, with the pool's limit, and its instances' cap (a fan-out
-- task's `jobs`): `volley status` predicts a run's time left within them, as the
-- footer does. Rows of earlier runs have NULL there, as do tasks without either.

ALTER TABLE run_units ADD COLUMN pool TEXT;
ALTER TABLE run_units ADD COLUMN pool_limit INTEGER;
ALTER TABLE run_units ADD COLUMN cap INTEGER;
