-- The order each document's changes were stored in, with their dependencies: a causal order
-- (a change is stored only after its dependencies). The append fast path reads the newest
-- part of it to merge a push, or answer a pull, from a client a few changes behind the heads
-- without loading the document (sync_core::server::graph). `deps` is comma-separated hex,
-- empty for none. Changes stored before this table existed have no row: they are all older
-- than any that has one, which is all the fast path needs.
CREATE TABLE IF NOT EXISTS change_graph (
    doc_id TEXT NOT NULL,
    pos    INTEGER NOT NULL,
    hash   TEXT NOT NULL,
    deps   TEXT NOT NULL,
    PRIMARY KEY (doc_id, pos)
);
CREATE UNIQUE INDEX IF NOT EXISTS change_graph_by_hash ON change_graph (doc_id, hash);
