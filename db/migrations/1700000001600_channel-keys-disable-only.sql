-- Up Migration
-- The keys that vouch for approvals: keyturn's processes may register one and disable one, nothing
-- else. A key's public half, channel and approver never change, a disabled key is never enabled
-- again, and no key is deleted (its past attestations stay checkable against the audit log).
REVOKE UPDATE, DELETE, TRUNCATE ON approval_channel_keys FROM keyturn_app;
GRANT UPDATE (disabled_at) ON approval_channel_keys TO keyturn_app;

CREATE FUNCTION approval_channel_keys_disable_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.disabled_at IS NOT NULL OR NEW.disabled_at IS NULL
     OR NEW.kid IS DISTINCT FROM OLD.kid OR NEW.channel IS DISTINCT FROM OLD.channel
     OR NEW.approver IS DISTINCT FROM OLD.approver OR NEW.public_jwk IS DISTINCT FROM OLD.public_jwk
     OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
    RAISE EXCEPTION 'an approval channel key can only be disabled, once' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER approval_channel_keys_disable_only BEFORE UPDATE ON approval_channel_keys
  FOR EACH ROW EXECUTE FUNCTION approval_channel_keys_disable_only();

-- Down Migration
DROP TRIGGER approval_channel_keys_disable_only ON approval_channel_keys;
DROP FUNCTION approval_channel_keys_disable_only();
GRANT UPDATE, DELETE ON approval_channel_keys TO keyturn_app;
