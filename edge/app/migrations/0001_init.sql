-- Documents: metadata and the size of their stored state.
CREATE TABLE IF NOT EXISTS documents (
    id             TEXT PRIMARY KEY,
    owner          TEXT NOT NULL,
    title          TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    change_rows    INTEGER NOT NULL DEFAULT 0,
    change_bytes   INTEGER NOT NULL DEFAULT 0,
    snapshot_bytes INTEGER NOT NULL DEFAULT 0
);

-- The change log after the latest snapshot. Changes are immutable and content-addressed, so
-- concurrent writers never conflict: a re-sent change is ignored by the unique key, and `seq`
-- (AUTOINCREMENT: never reused) orders rows for compaction.
CREATE TABLE IF NOT EXISTS changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id  TEXT NOT NULL,
    hash    BLOB NOT NULL,
    bytes   BLOB NOT NULL,
    UNIQUE (doc_id, hash)
);
CREATE INDEX IF NOT EXISTS changes_by_doc ON changes (doc_id, seq);

-- Each document's current heads (hex change hashes), maintained by the same transaction that
-- stores changes: add the new changes, remove what they depend on.
CREATE TABLE IF NOT EXISTS heads (
    doc_id TEXT NOT NULL,
    hash   TEXT NOT NULL,
    PRIMARY KEY (doc_id, hash)
);

-- The latest compacted snapshot of each document; it holds every change with seq <= covers_seq.
CREATE TABLE IF NOT EXISTS snapshots (
    doc_id     TEXT PRIMARY KEY,
    heads      TEXT NOT NULL,
    bytes      BLOB NOT NULL,
    covers_seq INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS members (
    doc_id   TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    role     TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    added_at INTEGER NOT NULL,
    PRIMARY KEY (doc_id, user_id)
);
CREATE INDEX IF NOT EXISTS members_by_user ON members (user_id, doc_id);

-- Replays of requests sent with an Idempotency-Key.
CREATE TABLE IF NOT EXISTS idempotency (
    subject      TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    status       INTEGER NOT NULL,
    body         BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (subject, key)
);

-- Fixed-window request counters, shared by every edge instance.
CREATE TABLE IF NOT EXISTS rate_limits (
    key    TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);
