-- Up Migration
-- A channel key vouches for approvals only once its registration is in the audit log: keyturn's
-- role can insert a key (registering one needs it), but one inserted without its audit entry is
-- never used. Keys registered before registrations were audited keep working.
ALTER TABLE approval_channel_keys ADD COLUMN registered_before_audit boolean NOT NULL DEFAULT true;
ALTER TABLE approval_channel_keys ALTER COLUMN registered_before_audit SET DEFAULT false;
REVOKE INSERT ON approval_channel_keys FROM keyturn_app;
GRANT INSERT (kid, channel, approver, public_jwk) ON approval_channel_keys TO keyturn_app;
CREATE INDEX audit_log_key_register_idx ON audit_log ((subject ->> 'kid')) WHERE action = 'approval.key.register';

-- Down Migration
DROP INDEX audit_log_key_register_idx;
GRANT INSERT ON approval_channel_keys TO keyturn_app;
ALTER TABLE approval_channel_keys DROP COLUMN registered_before_audit;
