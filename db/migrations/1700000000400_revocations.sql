-- Up Migration
-- The validators' revocation list. Every insert/delete is followed, in the same transaction, by
-- pg_notify('keyturn_revocations', …) (agents/validator/revocation-list.ts); validators LISTEN,
-- and resync periodically to heal any notification they missed.
-- kind 'jti': one token; 'kid': every token signed by a key; 'sub': every token of a subject, or
-- with not_before set only those issued (iat) before it. An entry is useless once every token it
-- could match has expired: expires_at says when, and readers ignore (and may purge) it after that.
CREATE TABLE revocations (
  id          bigserial   PRIMARY KEY,
  kind        text        NOT NULL CHECK (kind IN ('jti', 'kid', 'sub')),
  value       text        NOT NULL CHECK (length(value) BETWEEN 1 AND 1024),
  not_before  timestamptz NULL,
  expires_at  timestamptz NOT NULL,
  temporary   boolean     NOT NULL DEFAULT false,
  reason      text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 2048),
  created_at  timestamptz NOT NULL DEFAULT now(),
  CHECK (kind = 'sub' OR not_before IS NULL)
);
-- One entry per (kind, value, not_before): revoking twice is idempotent.
CREATE UNIQUE INDEX revocations_identity_idx ON revocations (kind, value, (COALESCE(not_before, '-infinity'::timestamptz)));
CREATE INDEX revocations_expires_idx ON revocations (expires_at);

-- Tokens presented with singleUse: the first use records the jti, any later one is a replay.
CREATE TABLE used_jtis (
  jti        text        PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
CREATE INDEX used_jtis_expires_idx ON used_jtis (expires_at);

-- Down Migration
DROP TABLE used_jtis;
DROP TABLE revocations;
