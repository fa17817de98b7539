-- Up Migration
-- Start nonces are dated and a start request older than 7 days is refused by its date, so consumed
-- nonces are purged after 8 days (agents/shared/run-starts.ts); this index keeps that purge cheap.
CREATE INDEX run_starts_consumed_at_idx ON run_starts (consumed_at);

-- Down Migration
DROP INDEX run_starts_consumed_at_idx;
