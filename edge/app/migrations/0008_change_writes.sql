-- Stores the changes of a sync: a row inserted into `change_writes` stores one change of a
-- document, as one statement per change used to (Store::sync_statements inserts a whole push,
-- however many changes, with one statement). Nothing is ever read from the view. A change is
-- new when its `changes` row is: only then does it count in the document's counters, become a
-- head (unless `head` is 0: another change of the same write depends on it, and the write's
-- last statement would drop it again) and take the next place in the document's order.
-- `changes()` is, inside a trigger, the row count of the trigger's previous statement. A write
-- to a document that does not exist (deleted meanwhile) stores nothing.
CREATE VIEW IF NOT EXISTS change_writes (doc_id, hash, hash_bytes, bytes, actor, seq, start_op, last_op, deps, head, now) AS
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE 0;
CREATE TRIGGER IF NOT EXISTS change_writes_insert INSTEAD OF INSERT ON change_writes
WHEN EXISTS (SELECT 1 FROM documents WHERE id = NEW.doc_id)
BEGIN
    INSERT OR IGNORE INTO changes (doc_id, hash, bytes) VALUES (NEW.doc_id, NEW.hash_bytes, NEW.bytes);
    UPDATE documents SET change_rows = change_rows + 1, change_bytes = change_bytes + length(NEW.bytes), updated_at = NEW.now
        WHERE id = NEW.doc_id AND changes() = 1;
    -- changes() is now the counters' update's: 1 exactly when the change was new.
    INSERT OR IGNORE INTO heads (doc_id, hash) SELECT NEW.doc_id, NEW.hash WHERE NEW.head AND changes() = 1;
    INSERT OR IGNORE INTO change_index (doc_id, hash, actor, seq, start_op, last_op, bytes)
        VALUES (NEW.doc_id, NEW.hash, NEW.actor, NEW.seq, NEW.start_op, NEW.last_op, NEW.bytes);
    -- ... and here the index insert's: a change takes a place in the order once.
    INSERT OR IGNORE INTO change_graph (doc_id, pos, hash, deps)
        SELECT NEW.doc_id, (SELECT COALESCE(MAX(pos), 0) + 1 FROM change_graph WHERE doc_id = NEW.doc_id), NEW.hash, NEW.deps
        WHERE changes() = 1;
END;
