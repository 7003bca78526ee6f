-- Every change a document ever stored, by its author and the op ids it holds, kept when
-- compaction folds the change log into a snapshot: the append fast path checks what a pushed
-- change refers to (objects, elements, preds) against the changes that made those ops,
-- without loading the document. `actor` is hex; `last_op` is `start_op - 1` for an empty
-- change.
CREATE TABLE IF NOT EXISTS change_index (
    doc_id   TEXT NOT NULL,
    hash     TEXT NOT NULL,
    actor    TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    start_op INTEGER NOT NULL,
    last_op  INTEGER NOT NULL,
    bytes    BLOB NOT NULL,
    PRIMARY KEY (doc_id, hash)
);
CREATE INDEX IF NOT EXISTS change_index_by_op ON change_index (doc_id, actor, last_op);

-- Documents whose every change is in change_index: those created since it exists, and older
-- ones once a compaction has indexed them. The fast path vouches for nothing elsewhere.
CREATE TABLE IF NOT EXISTS indexed_documents (
    doc_id TEXT PRIMARY KEY
);
