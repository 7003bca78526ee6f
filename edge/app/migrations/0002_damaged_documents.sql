-- Documents whose stored state does not load (found by a sync, a read or compaction). Reads
-- of them answer `document-unavailable`, compaction skips them, and operators see them in
-- GET /v1/admin/damaged and the metrics until the rows that break them are repaired.
CREATE TABLE IF NOT EXISTS damaged_documents (
    doc_id     TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
);

-- Compactions started and not finished, per document. A runtime that crashes while loading a
-- document (automerge can abort a wasm instance) never records a failure, so each attempt is
-- counted before the load and cleared by the commit; a document whose compaction keeps
-- crashing is recorded as damaged instead of stopping every later pass.
CREATE TABLE IF NOT EXISTS compaction_attempts (
    doc_id   TEXT PRIMARY KEY,
    attempts INTEGER NOT NULL,
    last_at  INTEGER NOT NULL
);
