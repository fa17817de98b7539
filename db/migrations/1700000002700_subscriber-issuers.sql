-- Up Migration
-- The issuers a subscriber is told about; NULL: every issuer (as before). A subscriber of one
-- tenant's issuer learns nothing of another's revocations (kids, token ids, client ids).
ALTER TABLE revocation_subscribers ADD COLUMN issuers text[] NULL
  CHECK (issuers IS NULL OR (cardinality(issuers) BETWEEN 1 AND 100 AND array_position(issuers, NULL) IS NULL));
GRANT UPDATE (issuers) ON revocation_subscribers TO keyturn_app;

-- Down Migration
ALTER TABLE revocation_subscribers DROP COLUMN issuers;
