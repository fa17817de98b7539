-- Up Migration
-- OAuth clients of the token endpoint (client_credentials). The secret is stored only as an scrypt
-- hash `scrypt$N$r$p$salt$hash` (base64url salt and hash); the plain secret is shown once, at creation.
CREATE TABLE clients (
  client_id         text        PRIMARY KEY CHECK (client_id ~ '^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$'),
  secret_hash       text        NOT NULL CHECK (secret_hash ~ '^scrypt\$[0-9]+\$[0-9]+\$[0-9]+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$'),
  scopes            text[]      NOT NULL CHECK (cardinality(scopes) >= 1),
  tenant            text        NULL CHECK (tenant IS NULL OR length(tenant) BETWEEN 1 AND 256),
  disabled          boolean     NOT NULL DEFAULT false,
  created_at        timestamptz NOT NULL DEFAULT now(),
  secret_rotated_at timestamptz NULL
);

-- Issuance paused for an issuer (incident containment by RevocationResponder or a human).
CREATE TABLE issuance_pauses (
  issuer    text        PRIMARY KEY,
  reason    text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 2048),
  paused_at timestamptz NOT NULL DEFAULT now(),
  paused_by jsonb       NOT NULL CHECK (jsonb_typeof(paused_by) = 'object')
);

-- One row per token signed: enough to revoke "every token under kid X" or "every token of client Y".
-- Never the token itself. client_id is NULL for keyturn's own canary tokens.
CREATE TABLE issued_tokens (
  jti            text        PRIMARY KEY,
  issuer         text        NOT NULL,
  sub            text        NOT NULL,
  client_id      text        NULL,
  kid            text        NOT NULL,
  exp            timestamptz NOT NULL,
  iat            timestamptz NOT NULL,
  policy_version text        NOT NULL,
  CHECK (exp > iat)
);
CREATE INDEX issued_tokens_kid_idx ON issued_tokens (kid);
CREATE INDEX issued_tokens_sub_idx ON issued_tokens (sub, iat);
CREATE INDEX issued_tokens_exp_idx ON issued_tokens (exp);

-- Down Migration
DROP TABLE issued_tokens;
DROP TABLE issuance_pauses;
DROP TABLE clients;
