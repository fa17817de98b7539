-- Up Migration
-- The first time each activity call of a run was scheduled. Temporal lets a run schedule an activity
-- id again once the earlier call has closed, so someone who answers a run's workflow tasks could
-- run one of its finished steps again with the input copied from its history. A worker runs a task
-- only if it is the call's first scheduling (a retry keeps that time); see workers/call-id-check.ts.
-- Runtime logins record calls and read them, never change or remove them; rows older than 400 days
-- go through purge_activity_calls().
CREATE TABLE activity_calls (
  workflow_id  text        NOT NULL CHECK (length(workflow_id) BETWEEN 1 AND 1000),
  run_id       text        NOT NULL CHECK (length(run_id) BETWEEN 1 AND 200),
  activity_id  text        NOT NULL CHECK (length(activity_id) BETWEEN 1 AND 1000),
  scheduled_ms bigint      NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workflow_id, run_id, activity_id)
);
CREATE INDEX activity_calls_recorded_at_idx ON activity_calls (recorded_at);
REVOKE UPDATE, DELETE, TRUNCATE ON activity_calls FROM keyturn_app;
GRANT SELECT, INSERT ON activity_calls TO keyturn_app;

-- Runs with its owner's rights: every name is schema-qualified and pg_temp is searched last, so a
-- runtime login's temporary table or function cannot stand in for the real ones.
CREATE FUNCTION purge_activity_calls(p_batch integer DEFAULT 1000) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH gone AS (
    DELETE FROM public.activity_calls WHERE ctid IN (
      SELECT ctid FROM public.activity_calls WHERE recorded_at < now() - interval '400 days'
      ORDER BY recorded_at LIMIT LEAST(GREATEST(p_batch, 1), 10000) FOR UPDATE SKIP LOCKED)
    RETURNING 1)
  SELECT count(*)::integer FROM gone
$$;
REVOKE ALL ON FUNCTION purge_activity_calls(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_activity_calls(integer) TO keyturn_app;

-- Down Migration
DROP FUNCTION purge_activity_calls(integer);
DROP TABLE activity_calls;
