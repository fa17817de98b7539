-- Up Migration
-- At most one rotation per issuer is in flight, whoever starts it.
CREATE TABLE rotation_locks (
  issuer      text PRIMARY KEY,
  workflow_id text        NOT NULL,
  acquired_at timestamptz NOT NULL DEFAULT now()
);

-- Public keys of the approval channels (the Slack app, CLI approvers): attestations are verified
-- against these, so a bare Temporal signal cannot approve anything.
CREATE TABLE approval_channel_keys (
  kid         text PRIMARY KEY,
  channel     text        NOT NULL CHECK (channel IN ('slack', 'cli')),
  approver    text        NULL,
  public_jwk  jsonb       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz NULL,
  CHECK (channel <> 'cli' OR approver IS NOT NULL)
);

-- Down Migration
DROP TABLE approval_channel_keys;
DROP TABLE rotation_locks;
