-- Up Migration
-- The tamper-evident audit log: a hash chain (each row's prev_hash is the previous row's hash),
-- append-only for keyturn_app by privilege AND by trigger. A superuser can still get around both;
-- `keyturn audit verify` (hashes + signed checkpoints) is what catches that.
CREATE TABLE audit_log (
  seq            bigint      PRIMARY KEY CHECK (seq > 0),
  at             timestamptz NOT NULL,
  actor          jsonb       NOT NULL,
  action         text        NOT NULL,
  subject        jsonb       NOT NULL,
  policy_version text        NOT NULL,
  outcome        text        NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),
  details        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  request_id     text        UNIQUE,
  prev_hash      text        NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash           text        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_workflow_idx ON audit_log ((actor ->> 'workflowId'));

-- Signed statements "the chain's head at seq N had hash H": deleting or rewriting the tail is caught.
CREATE TABLE audit_checkpoints (
  id        bigserial   PRIMARY KEY,
  at        timestamptz NOT NULL,
  seq       bigint      NOT NULL CHECK (seq > 0),
  head_hash text        NOT NULL,
  jws       text        NOT NULL
);
CREATE INDEX audit_checkpoints_seq_idx ON audit_checkpoints (seq);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit tables are append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Default privileges (1700000000001) granted keyturn_app full DML; take the destructive part back.
REVOKE ALL ON audit_log, audit_checkpoints FROM keyturn_app;
GRANT SELECT, INSERT ON audit_log, audit_checkpoints TO keyturn_app;
GRANT USAGE, SELECT ON SEQUENCE audit_checkpoints_id_seq TO keyturn_app;

-- Down Migration
DROP TABLE audit_checkpoints;
DROP TABLE audit_log;
DROP FUNCTION audit_append_only();
