// React bindings (`edgesync-web/react`). React is an optional peer dependency: only apps that
// import this entry point need it.
import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';

const noDoc = () => () => {};

/**
 * The document `id` of `client` (opened on first use, as `client.openDocument(id)` does) and
 * its content, re-rendered after every change to it, local or remote.
 *
 * Returns `{ doc, value, error }`: `doc` is the `Document` (`null` until it is open), `value`
 * its content as `doc.toJSON()` returns it (a new object after each change, the same object
 * between changes), `error` why opening failed (an `EdgesyncError`), else `null`. Edit through
 * `doc` (`doc.put(...)`, `doc.change(...)`); the component re-renders when the edit is stored.
 */
export function useDocument(client, id) {
  const [opened, setOpened] = useState({ key: null, doc: null, error: null });
  const key = client && id ? id : null;
  useEffect(() => {
    if (!client || !id) return undefined;
    let current = true;
    const existing = client.document(id);
    if (existing) {
      setOpened({ key: id, doc: existing, error: null });
    } else {
      client.openDocument(id).then(
        (doc) => { if (current) setOpened({ key: id, doc, error: null }); },
        (error) => { if (current) setOpened({ key: id, doc: null, error }); },
      );
    }
    return () => { current = false; };
  }, [client, id]);
  const doc = opened.key === key ? opened.doc : null;
  // The heads identify the content: a change event moves them, and React re-renders only then.
  const heads = useSyncExternalStore(
    useMemo(() => (doc ? (notify) => doc.subscribe(notify) : noDoc), [doc]),
    () => (doc ? doc.heads.join(',') : ''),
    () => '',
  );
  const value = useMemo(() => (doc ? doc.toJSON() : undefined), [doc, heads]);
  return { doc, value, error: opened.key === key ? opened.error : null };
}
