// Compile-only check of the package's TypeScript types (tsc --noEmit, run by scripts/test-web.sh).
import { Client, Document, EdgesyncError, init, type ClientEvent, type ErrorCode, type Presence, type SharedDocument, type SyncReport } from '../../pkg/index.js';
import { useDocument, type DocumentState } from '../../pkg/react.js';

export async function usage(): Promise<void> {
  await init();
  const client: Client = await Client.open({
    url: 'http://127.0.0.1:8787',
    dbName: 'app',
    getToken: async (refresh: boolean) => (refresh ? 'new' : 'cached'),
    backgroundSync: { intervalMs: 1000, debounceMs: 10 },
  });
  const doc: Document = await client.createDocument('Plans');
  await doc.change((d) => {
    d.put(['title'], 'Trip');
    d.insert(['todos'], 0, { text: 'pack' });
    d.push('todos', 1);
    d.spliceText(['title'], 0, 0, 'A ');
    d.delete(['old']);
  });
  const json: Record<string, unknown> = doc.toJSON();
  const heads: string[] = doc.heads;
  const pending: number = client.pendingChanges + doc.pendingChanges;
  const status: 'idle' | 'syncing' | 'synced' | 'offline' | 'error' = client.status;
  const off: () => void = client.subscribe((e: ClientEvent) => {
    if (e.type === 'status') console.log(e.status, e.pending);
    if (e.type === 'syncFailed') console.log(e.error.code satisfies ErrorCode);
  });
  off();
  const shared: SharedDocument[] = await client.sharedDocuments();
  const role: 'owner' | 'editor' | 'viewer' | undefined = shared[0]?.role;
  console.log(role, shared[0]?.updatedAt);
  const sent: boolean = client.setPresence(doc.id, { cursor: 3 });
  const stop: () => void = client.onPresence((p: Presence) => console.log(p.docId, p.from, p.data, sent));
  stop();
  const mode: string = client.liveMode;
  console.log(mode);
  try {
    const report: SyncReport = await client.syncNow();
    for (const [id, error] of Object.entries(report.errors)) console.log(id, error.code, error.docId);
  } catch (e) {
    if (e instanceof EdgesyncError && e.code === 'offline') console.log(e.retryAfter, e.status, e.detail);
  }
  const found: Document | undefined = client.document(doc.id);
  console.log(json, heads, pending, status, found?.info().pendingChanges, doc.syncError?.code);
  await client.close();
}

// The React hook's types (compiled only; React itself is not needed for them).
export function reactUsage(client: Client): number {
  const state: DocumentState<{ count?: number }> = useDocument<{ count?: number }>(client, 'abc');
  const doc: Document | null = state.doc;
  const code: ErrorCode | undefined = state.error?.code;
  console.log(doc, code);
  return state.value?.count ?? 0;
}
