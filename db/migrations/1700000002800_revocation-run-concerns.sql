-- Up Migration
-- The issuers a jti or sub revocation run's containment concerned: the run's issuer and every
-- issuer with live tokens of the target when it was contained. Written in the containment's own
-- transaction, whether or not any subscriber was owed its notice, so the run's later notices
-- (confirmed, lifted) still concern them once the tokens have expired: a subscriber limited to one
-- of them, registered after the containment, is told how it ended. Keyed by the run's workflow id,
-- the prefix of its notice ids. No upper bound on the issuers: a containment is never refused for
-- reaching too many. Rows are never changed.
CREATE TABLE revocation_run_concerns (
  workflow_id text        PRIMARY KEY CHECK (length(workflow_id) BETWEEN 1 AND 1024),
  concerns    text[]      NOT NULL CHECK (cardinality(concerns) >= 1 AND array_position(concerns, NULL) IS NULL),
  created_at  timestamptz NOT NULL DEFAULT now()
);

REVOKE ALL ON revocation_run_concerns FROM keyturn_app;
GRANT SELECT, INSERT ON revocation_run_concerns TO keyturn_app;

-- Down Migration
DROP TABLE revocation_run_concerns;
