-- Up Migration
-- Policy history, append-only. policy_versions holds each distinct document once, addressed by the
-- sha256 of its bytes (the database re-checks the hash). policy_activations is the history of which
-- version was in force: the active policy is the newest activation. Nothing here is ever updated,
-- so activation is an INSERT; re-activating an older document is a new activation of its version.
CREATE TABLE policy_versions (
  seq        bigserial   PRIMARY KEY,
  version    text        NOT NULL UNIQUE CHECK (version ~ '^[0-9a-f]{64}$'),
  document   text        NOT NULL CHECK (octet_length(document) BETWEEN 1 AND 1048576),
  -- The parsed policy as JSON (agents/planner/policy-types.ts Policy), for people and SQL; optional.
  summary    jsonb       NULL CHECK (summary IS NULL OR jsonb_typeof(summary) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (version = encode(sha256(convert_to(document, 'UTF8')), 'hex'))
);

-- Each activation supersedes exactly the one before it (previous_seq), so the history is one line:
-- a single root (the bootstrap, previous_seq NULL), no activation superseded twice (no forks, even
-- from two concurrent writers), and previous_seq < seq, so the newest activation is the active one.
CREATE TABLE policy_activations (
  seq          bigserial   PRIMARY KEY,
  version      text        NOT NULL REFERENCES policy_versions (version),
  previous_seq bigint      NULL UNIQUE REFERENCES policy_activations (seq) CHECK (previous_seq < seq),
  bootstrap    boolean     GENERATED ALWAYS AS (previous_seq IS NULL) STORED,
  approved_by  text[]      NOT NULL DEFAULT '{}' CHECK (array_position(approved_by, NULL) IS NULL),
  reason       text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 2048),
  requested_by text        NOT NULL CHECK (length(requested_by) BETWEEN 1 AND 256),
  -- Idempotency for retried activities: a repeated request id returns the existing activation.
  request_id   text        NULL UNIQUE CHECK (request_id IS NULL OR length(request_id) BETWEEN 1 AND 200),
  activated_at timestamptz NOT NULL DEFAULT now(),
  -- Only the bootstrap (taking the file as it stands when nothing is stored) goes without sign-off.
  CHECK (previous_seq IS NULL OR cardinality(approved_by) >= 1)
);
CREATE UNIQUE INDEX policy_activations_one_bootstrap ON policy_activations ((true)) WHERE previous_seq IS NULL;
CREATE INDEX policy_activations_version_idx ON policy_activations (version);

CREATE FUNCTION policy_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'policy tables are append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER policy_versions_no_update_delete BEFORE UPDATE OR DELETE ON policy_versions
  FOR EACH ROW EXECUTE FUNCTION policy_append_only();
CREATE TRIGGER policy_versions_no_truncate BEFORE TRUNCATE ON policy_versions
  FOR EACH STATEMENT EXECUTE FUNCTION policy_append_only();
CREATE TRIGGER policy_activations_no_update_delete BEFORE UPDATE OR DELETE ON policy_activations
  FOR EACH ROW EXECUTE FUNCTION policy_append_only();
CREATE TRIGGER policy_activations_no_truncate BEFORE TRUNCATE ON policy_activations
  FOR EACH STATEMENT EXECUTE FUNCTION policy_append_only();

-- Every activation is announced on keyturn_policy by the database itself, in the inserting
-- transaction: listeners hear of it exactly when (and only if) it commits. The payload is a hint
-- ({"seq": "…", "version": "…"}); listeners re-read the table.
CREATE FUNCTION policy_activation_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('keyturn_policy', json_build_object('seq', NEW.seq::text, 'version', NEW.version)::text);
  RETURN NULL;
END
$$;
CREATE TRIGGER policy_activations_notify AFTER INSERT ON policy_activations
  FOR EACH ROW EXECUTE FUNCTION policy_activation_notify();

-- Default privileges (1700000000001) granted keyturn_app full DML; keep only SELECT and INSERT.
REVOKE ALL ON policy_versions, policy_activations FROM keyturn_app;
GRANT SELECT, INSERT ON policy_versions, policy_activations TO keyturn_app;
GRANT USAGE, SELECT ON SEQUENCE policy_versions_seq_seq, policy_activations_seq_seq TO keyturn_app;

-- Down Migration
DROP TABLE policy_activations;
DROP TABLE policy_versions;
DROP FUNCTION policy_activation_notify();
DROP FUNCTION policy_append_only();
