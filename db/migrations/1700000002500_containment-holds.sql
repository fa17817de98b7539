-- Up Migration
-- Which revocation run holds a key's temporary containment. A contained key waits for sign-off with
-- no end (past its deadline the containment holds and escalation goes on), but its temporary kid
-- entry lapses after 7 days: the worker extends the entries whose holding run is still open, and
-- lets the others lapse as before. Rows go with their entry.
CREATE TABLE containment_holds (
  revocation_id bigint      NOT NULL REFERENCES revocations (id) ON DELETE CASCADE,
  workflow_id   text        NOT NULL CHECK (length(workflow_id) BETWEEN 1 AND 1024),
  run_id        text        NOT NULL CHECK (length(run_id) BETWEEN 1 AND 128),
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (revocation_id, workflow_id, run_id)
);
-- Default privileges grant keyturn_app full DML; a hold is written or dropped, never changed.
REVOKE UPDATE, TRUNCATE ON containment_holds FROM keyturn_app;

-- Down Migration
DROP TABLE containment_holds;
