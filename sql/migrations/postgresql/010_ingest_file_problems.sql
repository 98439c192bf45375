-- Why a finished file was unusable (a CSV header without the required columns, or more than
-- half of its non-blank lines rejected): the raw_events check fails naming it, and the ledger
-- keeps the reason. A table of its own (not a column) so that the migration is idempotent.
CREATE TABLE IF NOT EXISTS ingest_file_problems (
    file_id     bigint PRIMARY KEY,
    problem     text NOT NULL
);
