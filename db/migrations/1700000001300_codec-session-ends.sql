-- Up Migration
-- Codec browser sessions ended before their expiry: one row per signed-out session (its random
-- nonce, kept until the session would have expired anyway), and the row '*' for "every session
-- signed in before ended_at" (`keyturn codec end-sessions`). Session values themselves are never stored.
CREATE TABLE codec_session_ends (
  session    text        PRIMARY KEY CHECK (session = '*' OR session ~ '^[A-Za-z0-9_-]{16}$'),
  ended_at   timestamptz NOT NULL,
  expires_at timestamptz NULL CHECK ((session = '*') = (expires_at IS NULL))
);

-- Down Migration
DROP TABLE codec_session_ends;
