-- Up Migration
-- End-to-end self-checks (`keyturn doctor`, the foundation test): a workflow writes one row here.
CREATE TABLE probe_runs (
  id          bigserial PRIMARY KEY,
  workflow_id text        NOT NULL UNIQUE,
  message     text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE probe_runs;
