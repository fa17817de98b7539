-- Up Migration
-- Ledger rows older than 400 days went whatever their run's state, so a run still open after that
-- (a contained revocation nobody signs off holds with no end) could have a finished step scheduled
-- again. The worker now asks Temporal which runs with such rows are closed, or no longer known to
-- the namespace, and purges only theirs: an open run keeps its calls for as long as it is open.
-- The old purge stays for workers from before this migration, which call it as they start; it
-- removes nothing now (what it did is the hole this closes).
CREATE OR REPLACE FUNCTION purge_activity_calls(p_batch integer DEFAULT 1000) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ SELECT 0 $$;

-- Runs with its owner's rights: every name is schema-qualified and pg_temp is searched last, so a
-- runtime login's temporary table or function cannot stand in for the real ones. It removes only
-- rows older than 400 days, so the runtime login can remove no call it could not before.
CREATE FUNCTION purge_activity_calls(p_workflow_ids text[], p_run_ids text[]) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH gone AS (
    DELETE FROM public.activity_calls c
     USING unnest(p_workflow_ids, p_run_ids) AS r(workflow_id, run_id)
     WHERE c.workflow_id = r.workflow_id AND c.run_id = r.run_id
       AND c.recorded_at < now() - interval '400 days'
    RETURNING 1)
  SELECT count(*)::integer FROM gone
$$;
REVOKE ALL ON FUNCTION purge_activity_calls(text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_activity_calls(text[], text[]) TO keyturn_app;

-- Down Migration
DROP FUNCTION purge_activity_calls(text[], text[]);
CREATE OR REPLACE FUNCTION purge_activity_calls(p_batch integer DEFAULT 1000) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH gone AS (
    DELETE FROM public.activity_calls WHERE ctid IN (
      SELECT ctid FROM public.activity_calls WHERE recorded_at < now() - interval '400 days'
      ORDER BY recorded_at LIMIT LEAST(GREATEST(p_batch, 1), 10000) FOR UPDATE SKIP LOCKED)
    RETURNING 1)
  SELECT count(*)::integer FROM gone
$$;
