-- Up Migration
-- Every long-running keyturn process reports which KEKs it holds, by id (the first 16 hex of the
-- KEK's sha256: identifies it, reveals nothing), so `keyturn keys reseal` can refuse while a live
-- process could open a key today but not once it is resealed under a KEK it lacks.
CREATE TABLE kek_holders (
  holder     text        PRIMARY KEY CHECK (length(holder) BETWEEN 1 AND 256),
  seals_with text        NOT NULL CHECK (seals_with ~ '^[0-9a-f]{16}$'),
  opens      text[]      NOT NULL CHECK (cardinality(opens) BETWEEN 1 AND 64),
  started_at timestamptz NOT NULL,
  seen_at    timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE kek_holders;
