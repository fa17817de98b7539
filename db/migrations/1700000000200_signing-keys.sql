-- Up Migration
-- Signing keys, one row per key for its whole life. Private keys are stored only envelope-encrypted
-- (AES-256-GCM under a per-key DEK wrapped by the KEK); public_jwk must never hold private members.
CREATE TABLE signing_keys (
  kid                text        PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{43}$'),
  issuer             text        NOT NULL CHECK (length(issuer) BETWEEN 1 AND 2048),
  alg                text        NOT NULL CHECK (alg IN ('RS256', 'PS256', 'ES256', 'EdDSA')),
  state              text        NOT NULL CHECK (state IN ('pending', 'active', 'retiring', 'retired', 'revoked', 'failed')),
  public_jwk         jsonb       NOT NULL CHECK (
                                   jsonb_typeof(public_jwk) = 'object'
                                   AND NOT (public_jwk ?| ARRAY['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'])
                                   AND public_jwk ->> 'kid' = kid
                                   AND public_jwk ->> 'alg' = alg
                                   AND public_jwk ->> 'use' = 'sig'),
  private_ciphertext bytea       NOT NULL,
  wrapped_dek        bytea       NOT NULL,
  nonce              bytea       NOT NULL CHECK (octet_length(nonce) = 12),
  kek_id             text        NOT NULL,
  policy_version     text        NOT NULL,
  created_at         timestamptz NOT NULL,
  activated_at       timestamptz,
  retiring_at        timestamptz,
  retired_at         timestamptz,
  revoked_at         timestamptz,
  failed_at          timestamptz,
  state_reason       text,
  CHECK (state <> 'active' OR activated_at IS NOT NULL),
  CHECK (state <> 'retiring' OR retiring_at IS NOT NULL),
  CHECK (state <> 'retired' OR retired_at IS NOT NULL),
  CHECK (state <> 'revoked' OR revoked_at IS NOT NULL),
  CHECK (state <> 'failed' OR failed_at IS NOT NULL)
);

-- Exactly one active key per issuer, enforced by the database whatever the application does.
CREATE UNIQUE INDEX signing_keys_one_active_per_issuer ON signing_keys (issuer) WHERE state = 'active';
CREATE INDEX signing_keys_issuer_state_idx ON signing_keys (issuer, state);

-- The allowed transitions (agents/key-manager/transitions.ts) and immutable identity, enforced again here.
CREATE FUNCTION signing_keys_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.kid IS DISTINCT FROM OLD.kid OR NEW.issuer IS DISTINCT FROM OLD.issuer OR NEW.alg IS DISTINCT FROM OLD.alg
     OR NEW.public_jwk IS DISTINCT FROM OLD.public_jwk OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
    RAISE EXCEPTION 'signing_keys: kid, issuer, alg, public_jwk and created_at are immutable'
      USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.state IS DISTINCT FROM OLD.state AND NOT (
       (OLD.state = 'pending'  AND NEW.state IN ('active', 'failed', 'revoked'))
    OR (OLD.state = 'active'   AND NEW.state IN ('retiring', 'revoked', 'failed'))
    OR (OLD.state = 'retiring' AND NEW.state IN ('active', 'retired', 'revoked'))
    OR (OLD.state = 'retired'  AND NEW.state = 'revoked')) THEN
    RAISE EXCEPTION 'signing_keys: transition % -> % is forbidden', OLD.state, NEW.state
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER signing_keys_guard BEFORE UPDATE ON signing_keys
  FOR EACH ROW EXECUTE FUNCTION signing_keys_guard();

-- Idempotency: the first result of each request id, replayed on retries.
CREATE TABLE key_requests (
  request_id text        PRIMARY KEY CHECK (length(request_id) BETWEEN 1 AND 200),
  kid        text,
  op         text        NOT NULL,
  result     jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Keys are never deleted (revoked/failed keys stay as evidence); neither are request records.
REVOKE DELETE, TRUNCATE ON signing_keys, key_requests FROM keyturn_app;

-- Down Migration
DROP TABLE key_requests;
DROP TABLE signing_keys;
DROP FUNCTION signing_keys_guard();
