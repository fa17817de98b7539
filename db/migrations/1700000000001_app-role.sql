-- Up Migration
-- keyturn's processes run as keyturn_app (SET ROLE on every connection). Tables created by the
-- migrating role grant it DML by default; the audit migration takes UPDATE/DELETE back.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'keyturn_app') THEN
    CREATE ROLE keyturn_app NOLOGIN;
  END IF;
END
$$;
GRANT keyturn_app TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO keyturn_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO keyturn_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO keyturn_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO keyturn_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO keyturn_app;

-- Down Migration
SELECT 1;
