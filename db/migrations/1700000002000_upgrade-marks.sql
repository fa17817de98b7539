-- Up Migration
-- When this database was migrated to a version that changes what a run may do. A worker runs an
-- activity task with the SDK's plain activity id only for a run started before
-- 'run-bound-activity-ids' (workers/call-id-check.ts): only runs from before that version schedule
-- one, and anyone answering a newer run's workflow tasks could use one to run a step copied from an
-- older history. Runtime logins may read the marks, never move them.
CREATE TABLE upgrade_marks (
  name text        PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 100),
  at   timestamptz NOT NULL DEFAULT now()
);
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON upgrade_marks FROM keyturn_app;
GRANT SELECT ON upgrade_marks TO keyturn_app;
INSERT INTO upgrade_marks (name) VALUES ('run-bound-activity-ids');

-- Down Migration
DROP TABLE upgrade_marks;
