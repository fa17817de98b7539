-- Up Migration
-- Start nonces are dated (agents/shared/run-starts.ts): a start request older than 7 days is refused
-- by its date, judged by the database clock, so a consumed nonce is purged 8 days after its date.
-- Rows written before nonces were dated take the time they were consumed.
ALTER TABLE run_starts ADD COLUMN issued_at timestamptz;
UPDATE run_starts SET issued_at = consumed_at;
ALTER TABLE run_starts ALTER COLUMN issued_at SET NOT NULL;
CREATE INDEX run_starts_issued_at_idx ON run_starts (issued_at);

-- Down Migration
DROP INDEX run_starts_issued_at_idx;
ALTER TABLE run_starts DROP COLUMN issued_at;
