-- Up Migration
-- Downstream systems RevocationResponder tells about revocations: each gets a signed notice (a
-- compact JWS, typ keyturn-revocation+jws, agents/revocation-responder/notice.ts) POSTed to its url.
-- Subscribers are disabled, never deleted: the deliveries log refers to them.
CREATE TABLE revocation_subscribers (
  id         text        PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$'),
  url        text        NOT NULL CHECK (length(url) BETWEEN 8 AND 2048 AND url ~ '^https?://'),
  created_at timestamptz NOT NULL DEFAULT now(),
  disabled   boolean     NOT NULL DEFAULT false
);

-- Every delivery attempt, append-only for keyturn_app by privilege AND by trigger. Never the notice
-- body or the subscriber's response body.
CREATE TABLE revocation_deliveries (
  id            bigserial   PRIMARY KEY,
  subscriber_id text        NOT NULL REFERENCES revocation_subscribers (id),
  notice_jti    text        NOT NULL CHECK (length(notice_jti) BETWEEN 1 AND 200),
  event         text        NOT NULL CHECK (length(event) BETWEEN 1 AND 100),
  outcome       text        NOT NULL CHECK (outcome IN ('delivered', 'failed')),
  http_status   integer     NULL CHECK (http_status BETWEEN 100 AND 599),
  error         text        NULL CHECK (length(error) <= 1024),
  attempted_at  timestamptz NOT NULL DEFAULT now(),
  CHECK (outcome <> 'delivered' OR http_status BETWEEN 200 AND 299)
);
CREATE INDEX revocation_deliveries_notice_idx ON revocation_deliveries (notice_jti, subscriber_id);

CREATE FUNCTION revocation_deliveries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'revocation_deliveries is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER revocation_deliveries_no_update_delete BEFORE UPDATE OR DELETE ON revocation_deliveries
  FOR EACH ROW EXECUTE FUNCTION revocation_deliveries_append_only();
CREATE TRIGGER revocation_deliveries_no_truncate BEFORE TRUNCATE ON revocation_deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION revocation_deliveries_append_only();

-- Default privileges (1700000000001) granted keyturn_app full DML; keep only what it needs:
-- register and list subscribers, switch them on/off; append and read deliveries.
REVOKE ALL ON revocation_subscribers, revocation_deliveries FROM keyturn_app;
GRANT SELECT, INSERT ON revocation_subscribers TO keyturn_app;
GRANT UPDATE (disabled) ON revocation_subscribers TO keyturn_app;
GRANT SELECT, INSERT ON revocation_deliveries TO keyturn_app;
REVOKE ALL ON SEQUENCE revocation_deliveries_id_seq FROM keyturn_app;
GRANT USAGE ON SEQUENCE revocation_deliveries_id_seq TO keyturn_app;

-- Down Migration
DROP TABLE revocation_deliveries;
DROP TABLE revocation_subscribers;
DROP FUNCTION revocation_deliveries_append_only();
