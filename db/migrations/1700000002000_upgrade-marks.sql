-- Up Migration
-- When the first worker of a version that changes what a run may do started. A worker runs an
-- activity task with the SDK's plain activity id only for a call scheduled before
-- 'run-bound-activity-ids' (workers/call-id-check.ts): only workers from before that version
-- schedule one, and anyone answering a newer run's workflow tasks could use one to run a step
-- copied from an older history. The first new worker records the mark (so migrating ahead of the
-- deploy, while old workers still run, moves nothing); runtime logins may add a missing mark, never
-- move or remove one.
CREATE TABLE upgrade_marks (
  name text        PRIMARY KEY CHECK (name IN ('run-bound-activity-ids')),
  at   timestamptz NOT NULL DEFAULT now()
);
REVOKE UPDATE, DELETE, TRUNCATE ON upgrade_marks FROM keyturn_app;
GRANT SELECT, INSERT ON upgrade_marks TO keyturn_app;

-- Down Migration
DROP TABLE upgrade_marks;
