-- Presence sent over HTTP (POST /v1/docs/{id}/presence, docs/protocol.md §10.1): the relay
-- between edges that share nothing but the database (Spin has no sockets). A row is never part
-- of a document, never synced and never in its history; rows are served for 10 s
-- (edge_app::service::presence::TTL_MS) after they were sent, and deleted once expired by the
-- next send (anyone's) and by the compaction pass. AUTOINCREMENT: a reader's cursor never
-- sees a number again after the rows before it were deleted.
CREATE TABLE IF NOT EXISTS presence (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    -- The sending client's session ('' for none): the sender's reads naming it skip these rows.
    session TEXT NOT NULL DEFAULT '',
    -- The sender's JSON as sent (at most 1 KiB).
    data TEXT NOT NULL,
    sent_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS presence_doc ON presence (doc_id, seq);
CREATE INDEX IF NOT EXISTS presence_sent_at ON presence (sent_at);
-- A sender's messages of the last second (the per-user rate limit).
CREATE INDEX IF NOT EXISTS presence_sender ON presence (sender, sent_at);
