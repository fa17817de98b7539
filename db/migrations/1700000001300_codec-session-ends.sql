-- Up Migration
-- Codec browser sessions ended before their expiry: one row per signed-out session (its random
-- nonce, kept until the session would have expired anyway), and the row '*' for "every session
-- signed in before ended_at" (`keyturn codec end-sessions`). Session values themselves are never stored.
CREATE TABLE codec_session_ends (
  session    text        PRIMARY KEY CHECK (session = '*' OR session ~ '^[A-Za-z0-9_-]{16}$'),
  ended_at   timestamptz NOT NULL,
  expires_at timestamptz NULL CHECK ((session = '*') = (expires_at IS NULL))
);

-- keyturn's own role can end sessions, never revive one: the end of every session only moves
-- forward, and a signed-out session's row goes only once that session would have expired anyway.
CREATE FUNCTION codec_session_ends_only_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.session = '*' OR OLD.expires_at > now() THEN
      RAISE EXCEPTION 'codec_session_ends: an ended session cannot be revived' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN OLD;
  END IF;
  IF NEW.session <> OLD.session OR NEW.ended_at < OLD.ended_at OR NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
    RAISE EXCEPTION 'codec_session_ends: an ended session cannot be revived' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER codec_session_ends_only_forward BEFORE UPDATE OR DELETE ON codec_session_ends
  FOR EACH ROW EXECUTE FUNCTION codec_session_ends_only_forward();

-- Down Migration
DROP TABLE codec_session_ends;
DROP FUNCTION codec_session_ends_only_forward();
