-- Up Migration
-- The one-time nonce each start request carries inside its encrypted input. The first activity of a
-- run consumes it, so a start request copied from a history (encrypted, but not bound to a run) and
-- sent again under another workflow id or run is refused before it plans, contains or changes anything.
CREATE TABLE run_starts (
  nonce       text        PRIMARY KEY CHECK (nonce ~ '^[A-Za-z0-9_-]{22,64}$'),
  workflow_id text        NOT NULL CHECK (length(workflow_id) BETWEEN 1 AND 1000),
  run_id      text        NOT NULL CHECK (length(run_id) BETWEEN 1 AND 200),
  consumed_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE run_starts;
