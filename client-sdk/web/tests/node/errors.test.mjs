// Typed errors of the web SDK against the real native server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startServer } from '../support/server.mjs';
import { Client, EdgesyncError } from '../support/sdk.mjs';

let server;
let n = 0;
const dbName = (label) => `errors-${label}-${++n}`;

before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

test('an unreachable server is `offline`; local edits stay pending', async () => {
  const url = `http://127.0.0.1:${await freePort()}`; // nothing listens there
  const client = await Client.open({ url, dbName: dbName('offline'), getToken: () => 'unused', backgroundSync: false });
  const doc = await client.createDocument('Offline');
  await doc.put(['k'], 'v');
  const error = await client.syncNow().then(() => assert.fail('sync succeeded'), (e) => e);
  assert.ok(error instanceof EdgesyncError, `${error}`);
  assert.ok(error instanceof Error);
  assert.equal(error.name, 'EdgesyncError');
  assert.equal(error.code, 'offline');
  assert.equal(client.status, 'offline');
  assert.equal(client.pendingChanges, 1);
  assert.deepEqual(doc.toJSON(), { k: 'v' });
  await client.close();
});

test('a refused token is refreshed once; refused again it is `unauthorized`', async () => {
  const good = server.token('dave');
  const asked = [];
  const refreshing = await Client.open({
    url: server.url, dbName: dbName('refresh'), backgroundSync: false,
    getToken: async (refresh) => { asked.push(refresh); return refresh ? good : 'expired.token.value'; },
  });
  await refreshing.createDocument('Refreshed');
  assert.equal((await refreshing.syncNow()).synced, 1);
  assert.deepEqual(asked.slice(0, 2), [false, true]);
  await refreshing.close();

  const calls = [];
  const refused = await Client.open({
    url: server.url, dbName: dbName('unauthorized'), backgroundSync: false,
    getToken: (refresh) => { calls.push(refresh); return 'not-a-jwt'; },
  });
  await refused.createDocument('Refused');
  await assert.rejects(refused.syncNow(), (e) => e instanceof EdgesyncError && e.code === 'unauthorized');
  assert.deepEqual(calls, [false, true]);
  assert.equal(refused.status, 'error');
  assert.match(refused.statusMessage, /token/);
  await refused.close();

  const failing = await Client.open({
    url: server.url, dbName: dbName('token'), backgroundSync: false,
    getToken: () => Promise.reject(new Error('identity provider down')),
  });
  await failing.createDocument('No token');
  await assert.rejects(failing.syncNow(), (e) => e.code === 'token' && /identity provider down/.test(e.message));
  await failing.close();
});

test('a viewer\'s edits are `forbidden` for that document and stay local', async () => {
  const owner = server.token('erin');
  const viewer = server.token('frank');
  const created = await server.api('POST', '/v1/docs', owner, { title: 'Read only' });
  assert.equal(created.status, 201);
  const id = created.body.id;
  assert.equal((await server.api('PUT', `/v1/docs/${id}/members/frank`, owner, { role: 'viewer' })).status, 200);

  const client = await Client.open({ url: server.url, dbName: dbName('viewer'), getToken: () => viewer, backgroundSync: false });
  const failures = [];
  client.subscribe((e) => { if (e.type === 'syncFailed') failures.push(e); });
  const doc = await client.openDocument(id);
  assert.equal((await client.syncNow()).synced, 1, 'a viewer may pull');
  await doc.put(['mine'], true);
  const report = await client.syncNow();
  const error = report.errors[id];
  assert.ok(error instanceof EdgesyncError);
  assert.equal(error.code, 'forbidden');
  assert.equal(error.docId, id);
  assert.equal(doc.syncError.code, 'forbidden');
  assert.equal(doc.pendingChanges, 1);
  assert.equal(failures.at(-1).error.code, 'forbidden');
  assert.deepEqual(doc.toJSON(), { mine: true }, 'the local edit is kept');
  await client.close();
});

test('bad paths and values reject without writing anything', async () => {
  const client = await Client.open({ url: server.url, dbName: dbName('paths'), getToken: () => 'unused', backgroundSync: false });
  const doc = await client.createDocument('Paths');
  await doc.put(['list'], [1, 2]);
  const heads = doc.heads;
  await assert.rejects(doc.put(['missing', 'x'], 1), { name: 'EdgesyncError', code: 'invalidPath' });
  await assert.rejects(doc.put(['list', 5], 1), { code: 'invalidPath' });
  await assert.rejects(doc.insert(['list'], 3, 1), { code: 'invalidPath' });
  await assert.rejects(doc.spliceText(['list'], 0, 0, 'x'), { code: 'invalidPath' });
  await assert.rejects(doc.put(['x'], undefined), { code: 'invalidValue' });
  await assert.rejects(doc.put(['x'], NaN), { code: 'invalidValue' });
  await assert.rejects(doc.put(['x'], new Map([['a', 1]])), { code: 'invalidValue' });
  await assert.rejects(doc.put(['x'], { nested: () => 1 }), { code: 'invalidValue' });
  await assert.rejects(doc.delete(['nothing']), { code: 'invalidPath' });
  // One bad operation rolls back the whole change, and so does a throwing callback.
  await assert.rejects(doc.change((d) => { d.put(['ok'], 1); d.push(['nope'], 2); }), { code: 'invalidPath' });
  await assert.rejects(doc.change((d) => { d.put(['ok'], 1); throw new Error('changed my mind'); }), /changed my mind/);
  let kept;
  await doc.change((d) => { kept = d; });
  assert.throws(() => kept.put(['late'], 1), { code: 'invalidChange' });
  assert.deepEqual(doc.heads, heads);
  assert.deepEqual(doc.toJSON(), { list: [1, 2] });
  assert.equal(doc.get(['nothing']), undefined);
  await client.close();
});

test('one client per database; invalid options and ids are typed too', async () => {
  const options = { url: server.url, dbName: dbName('lock'), getToken: () => 'unused', backgroundSync: false };
  const first = await Client.open(options);
  await assert.rejects(Client.open(options), { code: 'storeInUse' });
  await first.close();
  const second = await Client.open(options);
  await assert.rejects(second.openDocument('not-an-id'), { code: 'invalidId' });
  await assert.rejects(second.createDocument('bad\u0000title'), { code: 'invalidTitle' });
  await second.close();
  await assert.rejects(second.createDocument('late'), { code: 'closed' });

  await assert.rejects(Client.open({ ...options, url: 'ftp://example.com' }), { code: 'invalidConfig' });
  await assert.rejects(Client.open({ ...options, getToken: 'token' }), { code: 'invalidConfig' });
  await assert.rejects(Client.open({ ...options, backgroundSync: 'yes' }), { code: 'invalidConfig' });
});
