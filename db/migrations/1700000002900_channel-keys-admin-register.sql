-- Up Migration
-- Registering a key that vouches for approvals is an administrator's change. With INSERT, anyone
-- holding the runtime login (every process, every CLI user's DATABASE_URL) could register a key
-- under another approver's name, or a second Slack key that speaks for any Slack user, and approve
-- as them. keyturn_app keeps reading keys and disabling one (a disabled key only stops counting).
REVOKE INSERT ON approval_channel_keys FROM keyturn_app;

-- Down Migration
GRANT INSERT (kid, channel, approver, public_jwk) ON approval_channel_keys TO keyturn_app;
