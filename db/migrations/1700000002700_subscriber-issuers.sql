-- Up Migration
-- The issuers a subscriber is told about; NULL: every issuer (as before). A subscriber of one
-- tenant's issuer learns nothing of another's revocations (kids, token ids, client ids).
ALTER TABLE revocation_subscribers ADD COLUMN issuers text[] NULL
  CHECK (issuers IS NULL OR (cardinality(issuers) BETWEEN 1 AND 100 AND array_position(issuers, NULL) IS NULL));
GRANT UPDATE (issuers) ON revocation_subscribers TO keyturn_app;

-- The issuers an owed notice concerns when they are more than its own: a jti or sub revocation
-- reaches every issuer with live tokens of it (the deny-list is not per issuer). NULL: its issuer.
ALTER TABLE revocation_notices ADD COLUMN concerns text[] NULL
  CHECK (concerns IS NULL OR (cardinality(concerns) BETWEEN 1 AND 100 AND array_position(concerns, NULL) IS NULL));

-- A notice owed to a subscriber that is no longer told of its issuers is withdrawn, once.
ALTER TABLE revocation_deliveries DROP CONSTRAINT revocation_deliveries_outcome_check;
ALTER TABLE revocation_deliveries ADD CONSTRAINT revocation_deliveries_outcome_check
  CHECK (outcome IN ('delivered', 'failed', 'superseded', 'abandoned', 'withdrawn'));
DROP INDEX revocation_deliveries_ended_once;
CREATE UNIQUE INDEX revocation_deliveries_ended_once ON revocation_deliveries (notice_jti, subscriber_id)
  WHERE outcome IN ('superseded', 'abandoned', 'withdrawn');

-- Down Migration
-- Dropping the issuer limits tells every subscriber of every issuer again, as before: the notices
-- withdrawn from limited subscribers become owed again and are resent.
DROP INDEX revocation_deliveries_ended_once;
ALTER TABLE revocation_deliveries DISABLE TRIGGER revocation_deliveries_no_update_delete;
DELETE FROM revocation_deliveries WHERE outcome = 'withdrawn';
ALTER TABLE revocation_deliveries ENABLE TRIGGER revocation_deliveries_no_update_delete;
ALTER TABLE revocation_deliveries DROP CONSTRAINT revocation_deliveries_outcome_check;
ALTER TABLE revocation_deliveries ADD CONSTRAINT revocation_deliveries_outcome_check
  CHECK (outcome IN ('delivered', 'failed', 'superseded', 'abandoned'));
CREATE UNIQUE INDEX revocation_deliveries_ended_once ON revocation_deliveries (notice_jti, subscriber_id)
  WHERE outcome IN ('superseded', 'abandoned');
ALTER TABLE revocation_notices DROP COLUMN concerns;
ALTER TABLE revocation_subscribers DROP COLUMN issuers;
