-- Up Migration
-- Every notice owed to a subscriber, written before its first delivery attempt. A run tries a
-- notice for about a minute and a half; the worker resends (re-signed: a new iat and exp, the same
-- jti and revokedAt) each one that has no delivered, superseded or abandoned attempt yet, with a
-- growing pause, until it is 7 days old. Rows are never changed: the state of a notice is the
-- attempts logged against it in revocation_deliveries.
CREATE TABLE revocation_notices (
  notice_jti    text        NOT NULL CHECK (length(notice_jti) BETWEEN 1 AND 200),
  subscriber_id text        NOT NULL REFERENCES revocation_subscribers (id),
  event         text        NOT NULL CHECK (event IN ('revocation.contained', 'revocation.confirmed', 'revocation.lifted')),
  kind          text        NOT NULL CHECK (kind IN ('kid', 'jti', 'sub')),
  value         text        NOT NULL CHECK (length(value) BETWEEN 1 AND 1024),
  before        timestamptz NULL CHECK (before IS NULL OR kind = 'sub'),
  issuer        text        NOT NULL CHECK (length(issuer) BETWEEN 1 AND 2048),
  revoked_at    timestamptz NOT NULL,
  -- The audit seq of the change the notice reports: orders the notices of one target.
  seq           bigint      NOT NULL CHECK (seq > 0),
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (notice_jti, subscriber_id)
);
CREATE INDEX revocation_notices_created_idx ON revocation_notices (created_at);
CREATE INDEX revocation_notices_target_idx ON revocation_notices (subscriber_id, kind, value);

CREATE FUNCTION revocation_notices_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'revocation_notices is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER revocation_notices_no_update_delete BEFORE UPDATE OR DELETE ON revocation_notices
  FOR EACH ROW EXECUTE FUNCTION revocation_notices_append_only();
CREATE TRIGGER revocation_notices_no_truncate BEFORE TRUNCATE ON revocation_notices
  FOR EACH STATEMENT EXECUTE FUNCTION revocation_notices_append_only();

REVOKE ALL ON revocation_notices FROM keyturn_app;
GRANT SELECT, INSERT ON revocation_notices TO keyturn_app;

-- Two more outcomes end a notice without a delivery: a later notice of the same target reached the
-- subscriber (superseded), or it was still undelivered after 7 days (abandoned, and audited).
ALTER TABLE revocation_deliveries DROP CONSTRAINT revocation_deliveries_outcome_check;
ALTER TABLE revocation_deliveries ADD CONSTRAINT revocation_deliveries_outcome_check
  CHECK (outcome IN ('delivered', 'failed', 'superseded', 'abandoned'));
-- A notice is ended once, even by two workers at the same time (one abandonment audit entry).
CREATE UNIQUE INDEX revocation_deliveries_ended_once ON revocation_deliveries (notice_jti, subscriber_id)
  WHERE outcome IN ('superseded', 'abandoned');

-- Down Migration
DROP INDEX revocation_deliveries_ended_once;
ALTER TABLE revocation_deliveries DISABLE TRIGGER revocation_deliveries_no_update_delete;
DELETE FROM revocation_deliveries WHERE outcome IN ('superseded', 'abandoned');
ALTER TABLE revocation_deliveries ENABLE TRIGGER revocation_deliveries_no_update_delete;
ALTER TABLE revocation_deliveries DROP CONSTRAINT revocation_deliveries_outcome_check;
ALTER TABLE revocation_deliveries ADD CONSTRAINT revocation_deliveries_outcome_check
  CHECK (outcome IN ('delivered', 'failed'));
DROP TABLE revocation_notices;
DROP FUNCTION revocation_notices_append_only();
