-- Up Migration
-- The Slack sign-off message of each run: where it was posted (channel, ts) so the notifier can
-- update it in place as the run progresses, the request it shows, and the progress so far. Facts
-- only (ids, kids, hashes, Slack user ids): never tokens or key material.
CREATE TABLE slack_messages (
  workflow_id text        PRIMARY KEY CHECK (length(workflow_id) BETWEEN 1 AND 512),
  run_id      text        NOT NULL CHECK (length(run_id) BETWEEN 1 AND 128),
  channel     text        NOT NULL CHECK (channel ~ '^[A-Z0-9]{2,32}$'),
  ts          text        NULL CHECK (ts IS NULL OR ts ~ '^[0-9]+\.[0-9]+$'),
  request     jsonb       NOT NULL CHECK (jsonb_typeof(request) = 'object'),
  progress    jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(progress) = 'object'),
  posted_at   timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Slack interactions already acted on: a replayed request (same trigger) or a second click by the
-- same approver on the same run records nothing. Rows older than Slack's replay window are purged
-- by the app; the workflow itself also counts one vote per approver.
CREATE TABLE slack_action_claims (
  claim      text        PRIMARY KEY CHECK (length(claim) BETWEEN 1 AND 1024),
  claimed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slack_action_claims_claimed_at_idx ON slack_action_claims (claimed_at);

-- Default privileges grant keyturn_app full DML; keep only what the Slack app uses.
GRANT SELECT, INSERT, UPDATE ON slack_messages TO keyturn_app;
REVOKE DELETE ON slack_messages FROM keyturn_app;
GRANT SELECT, INSERT, DELETE ON slack_action_claims TO keyturn_app;
REVOKE UPDATE ON slack_action_claims FROM keyturn_app;

-- Down Migration
DROP TABLE slack_action_claims;
DROP TABLE slack_messages;
