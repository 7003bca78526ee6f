// The web SDK in Node 22 (global fetch, fake-indexeddb) against the real native server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitFor } from '../support/server.mjs';
import { Client, Document } from '../support/sdk.mjs';

let server;
let n = 0;
const dbName = (label) => `sync-${label}-${++n}`;

// Every client a test opened, closed after the file's tests even when one failed half-way:
// a client left running keeps its timers and sockets, and the test process, alive.
const opened = [];

before(async () => { server = await startServer(); });
after(async () => {
  for (const client of opened) if (!client.closed) await client.close();
  await server?.stop();
});

async function open(user, label, extra = {}) {
  const token = server.token(user);
  const client = await Client.open({ url: server.url, dbName: dbName(label), getToken: async () => token, backgroundSync: false, ...extra });
  opened.push(client);
  return client;
}

test('two clients edit one document and converge through the server', async () => {
  const a = await open('alice', 'a');
  const b = await open('alice', 'b');
  const aEvents = [];
  const bEvents = [];
  a.subscribe((e) => aEvents.push(e));
  b.subscribe((e) => bEvents.push(e));

  const docA = await a.createDocument('Plans');
  assert.ok(docA instanceof Document);
  assert.match(docA.id, /^[0-9a-f]{32}$/);
  assert.equal(docA.title, 'Plans');
  await docA.change((d) => {
    d.put(['title'], 'Trip');
    d.put(['todos'], []);
    d.push(['todos'], { text: 'book train', done: false });
    d.put(['meta'], { stops: 3, ratio: 0.5, when: new Date(1700000000000), raw: new Uint8Array([1, 2]) });
  });
  assert.equal(a.pendingChanges, 1);
  assert.equal(a.status, 'idle');

  const report = await a.syncNow();
  assert.deepEqual({ synced: report.synced, pending: report.pending, errors: report.errors }, { synced: 1, pending: 0, errors: {} });
  assert.equal(a.status, 'synced');
  assert.equal(a.pendingChanges, 0);

  const docB = await b.openDocument(docA.id);
  assert.deepEqual(docB.toJSON(), {});
  await b.syncNow();
  assert.deepEqual(docB.toJSON(), docA.toJSON());
  assert.equal(docB.get(['meta', 'when']).getTime(), 1700000000000);
  assert.deepEqual([...docB.get(['meta', 'raw'])], [1, 2]);

  // Concurrent edits on both sides, then both sync.
  await docA.spliceText(['title'], 4, 0, ' to Rome');
  await docA.put(['todos', 0, 'done'], true);
  await docB.spliceText(['title'], 0, 0, 'Our ');
  await docB.insert(['todos'], 0, { text: 'pack', done: false });
  await a.syncNow();
  await b.syncNow();
  await a.syncNow();
  const expected = {
    title: 'Our Trip to Rome',
    todos: [{ text: 'pack', done: false }, { text: 'book train', done: true }],
  };
  assert.deepEqual({ title: docA.get('title'), todos: docA.get('todos') }, expected);
  assert.deepEqual(docB.toJSON(), docA.toJSON());
  assert.deepEqual(docA.heads, docB.heads);
  assert.equal(JSON.stringify(docA), JSON.stringify(docA.toJSON()));

  // Events: local changes, remote changes, status with pending counts.
  assert.ok(aEvents.some((e) => e.type === 'documentAdded' && e.docId === docA.id));
  assert.ok(aEvents.some((e) => e.type === 'changed' && e.origin === 'local'));
  assert.ok(aEvents.some((e) => e.type === 'changed' && e.origin === 'remote' && e.heads.length > 0));
  assert.ok(bEvents.some((e) => e.type === 'changed' && e.origin === 'remote' && e.docId === docA.id));
  assert.ok(aEvents.some((e) => e.type === 'status' && e.status === 'syncing'));
  assert.deepEqual(aEvents.filter((e) => e.type === 'status').at(-1), { type: 'status', status: 'synced', pending: 0 });

  const infos = a.documents();
  assert.equal(infos.length, 1);
  assert.equal(infos[0].id, docA.id);
  assert.equal(infos[0].origin, 'local');
  assert.equal(infos[0].registered, true);
  await a.close();
  await b.close();
});

test('edits are in IndexedDB when the Promise resolves and sync after reopening', async () => {
  const name = dbName('durable');
  const token = server.token('bob');
  const options = { url: server.url, dbName: name, getToken: () => token, backgroundSync: false };
  const first = await Client.open(options);
  const doc = await first.createDocument('Notes');
  await doc.put(['body'], 'draft 😀');
  await doc.spliceText(['body'], 8, 0, '!');           // after the emoji: UTF-16 indices
  await doc.change((d) => { d.put(['tags'], ['a']); d.push(['tags'], 'b'); });
  const id = doc.id;
  await first.close();
  await assert.rejects(doc.put(['x'], 1), { code: 'closed' });

  const second = await Client.open(options);
  const again = second.document(id);
  assert.ok(again, 'the document is still there');
  assert.deepEqual(again.toJSON(), { body: 'draft 😀!', tags: ['a', 'b'] });
  assert.equal(second.pendingChanges, 3, 'the outbox survived');
  assert.equal((await second.syncNow()).pending, 0);

  // The server has it: a fresh client (another device) pulls it.
  const other = await open('bob', 'other');
  const copy = await other.openDocument(id);
  await other.syncNow();
  assert.deepEqual(copy.toJSON(), again.toJSON());
  await second.close();
  await other.close();
});

test('the background loop pushes local changes and pulls remote ones without syncNow', async () => {
  const fast = { backgroundSync: { intervalMs: 100, debounceMs: 5 } };
  const a = await open('carol', 'bg-a', fast);
  const b = await open('carol', 'bg-b', fast);
  const doc = await a.createDocument('Live');
  await doc.put(['n'], 1);
  const copy = await b.openDocument(doc.id);
  await waitFor(() => copy.get('n') === 1, { what: 'b to receive n = 1' });
  await copy.put(['n'], 2);
  await waitFor(() => doc.get('n') === 2, { what: 'a to receive n = 2' });
  await waitFor(() => a.pendingChanges === 0 && b.pendingChanges === 0 && a.status === 'synced', { what: 'idle outboxes' });
  // close() stops the timers: the test process can exit.
  await a.close();
  await b.close();
  assert.equal(a.closed, true);
});

test('a document opened before its creator pushed it is found by the interval sync while the socket is open', async () => {
  const a = await open('carol', 'early-a');
  // B polls every 200 ms, or every hour once its sockets watch every document: a document the
  // server does not have yet cannot be watched, so B keeps polling for it.
  const b = await open('carol', 'early-b', { backgroundSync: { intervalMs: 200, liveIntervalMs: 3_600_000, liveMs: 20_000 } });
  const doc = await a.createDocument('Not pushed yet');
  await doc.put(['n'], 1);
  const copy = await b.openDocument(doc.id);
  await waitFor(() => b.liveMode === 'channel', { what: "b's live channel" });
  await new Promise((r) => setTimeout(r, 500));
  await a.syncNow();
  await waitFor(() => copy.get('n') === 1, { timeoutMs: 5000, what: 'b to find the document with an interval sync' });
});

test('sharedDocuments lists the documents the server shares with the user, opened here or not', async () => {
  const alice = await open('gina', 'shared-a');
  const shared = await alice.createDocument('For hal');
  const mine = await alice.createDocument('Mine');
  await alice.syncNow();
  assert.equal((await server.api('PUT', `/v1/docs/${shared.id}/members/hal`, server.token('gina'), { role: 'editor' })).status, 200);
  const hal = await open('hal', 'shared-b');
  assert.deepEqual(hal.documents(), [], 'nothing opened on this device yet');
  const listed = await hal.sharedDocuments();
  assert.deepEqual(listed.map(({ id, title, owner, role }) => ({ id, title, owner, role })),
    [{ id: shared.id, title: 'For hal', owner: 'gina', role: 'editor' }]);
  assert.ok(listed[0].updatedAt >= listed[0].createdAt && listed[0].createdAt > 0);
  const own = await alice.sharedDocuments();
  assert.deepEqual(own.map((d) => d.id).sort(), [shared.id, mine.id].sort());
});

test("a collaborator's edit arrives through the waiting sync, and presence over HTTP, where the server has no sockets", async () => {
  const plain = await startServer(['--live-sockets', 'false']);
  const token = plain.token('dave');
  const at = (label, extra = {}) => Client.open({ url: plain.url, dbName: dbName(label), getToken: async () => token, backgroundSync: false, ...extra });
  // Both poll once an hour: what arrives sooner came through a waiting request.
  const slow = { backgroundSync: { intervalMs: 3_600_000, liveMs: 20_000 } };
  const a = await at('live-a', slow);
  const b = await at('live-b', slow);
  try {
    const doc = await a.createDocument('Live');
    await doc.put(['n'], 1);
    await a.syncNow();
    const copy = await b.openDocument(doc.id);
    await waitFor(() => copy.get('n') === 1, { what: 'b to pull the document' });
    const remote = [];
    b.subscribe((e) => { if (e.type === 'changed' && e.origin === 'remote') remote.push(e); });
    await doc.put(['n'], 2);
    await a.syncNow();
    // The event follows the write to IndexedDB, a moment after the change is readable.
    await waitFor(() => copy.get('n') === 2 && remote.some((e) => e.docId === doc.id), { what: "a's edit to reach b, announced as a remote change" });
    assert.equal(b.liveMode, 'waiting-syncs');
    // Presence over HTTP (docs/protocol.md §10.1): b's cursor reaches a (the same user, another
    // client), the sender named by the token.
    const heard = [];
    const off = a.onPresence((p) => heard.push(p));
    await waitFor(() => {
      assert.equal(b.setPresence(doc.id, { cursor: 1 }), true);
      return heard.length > 0;
    }, { what: "b's presence to reach a over HTTP", intervalMs: 300 });
    assert.deepEqual(heard[0], { docId: doc.id, from: 'dave', data: { cursor: 1 } });
    off();
  } finally {
    // close() aborts the waiting request: the test process can exit at once, pass or fail.
    await a.close();
    await b.close();
    await plain.stop();
  }
});

test("live sockets: a collaborator's edit arrives without polling, and presence carries the sender's identity", async () => {
  // Both poll once an hour: what arrives sooner came through the live socket.
  const slow = { backgroundSync: { intervalMs: 3_600_000, liveMs: 20_000 } };
  const a = await open('erin', 'socket-a', slow);
  // B would poll every 200 ms without a socket; with one watching everything, once an hour.
  const b = await open('frank', 'socket-b', { backgroundSync: { intervalMs: 200, liveIntervalMs: 3_600_000, liveMs: 20_000 } });
  try {
    const doc = await a.createDocument('Cursors');
    await doc.put(['n'], 1);
    await a.syncNow();
    const shared = await server.api('PUT', `/v1/docs/${doc.id}/members/frank`, server.token('erin'), { role: 'viewer' });
    assert.equal(shared.status, 200);
    const copy = await b.openDocument(doc.id);
    await b.syncNow();
    assert.equal(copy.get('n'), 1);
    await waitFor(() => a.liveMode === 'channel' && b.liveMode === 'channel', { what: 'both on the live channel' });

    const remote = [];
    b.subscribe((e) => { if (e.type === 'changed' && e.origin === 'remote') remote.push(e); });
    await doc.put(['n'], 2);
    await a.syncNow();
    await waitFor(() => copy.get('n') === 2 && remote.length > 0, { what: "a's edit to reach b through its socket" });
    assert.deepEqual(remote[0].patches, [{ action: 'put', path: ['n'], value: 2 }], 'the event says what changed');

    const heard = [];
    const off = a.onPresence((p) => heard.push(p));
    // A viewer may send presence; the sender is who the token says, whatever the data claims.
    await waitFor(() => {
      assert.equal(b.setPresence(doc.id, { cursor: 4, from: 'mallory' }), true);
      return heard.length > 0;
    }, { what: "b's presence to reach a" });
    assert.deepEqual(heard[0], { docId: doc.id, from: 'frank', data: { cursor: 4, from: 'mallory' } });
    off();
    assert.throws(() => b.setPresence('not-an-id', {}), (e) => e.code === 'invalidId');

    // Idle, watching every document through its socket: no request at all.
    const syncs = () => server.log().split('\n').filter((l) => l.includes('"message":"handled"') && l.includes('/sync"')).length;
    await new Promise((r) => setTimeout(r, 700));
    const before = syncs();
    assert.ok(before > 0, 'the server logs every sync request');
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(syncs(), before, 'an idle client polled');
  } finally {
    await a.close();
    await b.close();
  }
  assert.equal(a.setPresence('0123456789abcdef0123456789abcdef', {}), false, 'no socket after close');
});
