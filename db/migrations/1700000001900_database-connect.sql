-- Up Migration
-- Only keyturn's roles may connect to its database or make temporary tables in it. By PostgreSQL's
-- default PUBLIC may do both, so any login on a shared server could connect, read the catalog and
-- hold connections open. keyturn_app (every runtime login's only role) gets both explicitly; the
-- owner and superusers keep theirs. A migrating role that may not change the database's grants
-- (not its owner) leaves them as they were and says so, rather than stop the deployment.
DO $$
BEGIN
  EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO keyturn_app', current_database());
  EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
EXCEPTION WHEN insufficient_privilege THEN
  RAISE WARNING 'keyturn: PUBLIC keeps CONNECT and TEMPORARY on database %: only its owner can revoke them (REVOKE CONNECT, TEMPORARY ON DATABASE % FROM PUBLIC, after GRANT CONNECT, TEMPORARY ON DATABASE % TO keyturn_app)', current_database(), current_database(), current_database();
END
$$;

-- Down Migration
SELECT 1;
