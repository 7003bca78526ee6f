// One document, two SDKs, one data model: the web SDK (here) and the mobile SDK (its Python
// bindings, client-sdk/uniffi/tests/cross_sdk.py) edit the same document through the real
// server. A string either of them writes is collaborative text for both, so `spliceText`
// works on it wherever it was written.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, startServer } from '../support/server.mjs';
import { Client } from '../support/sdk.mjs';

if (!process.env.EDGESYNC_PY_BINDINGS) throw new Error('EDGESYNC_PY_BINDINGS is not set: run scripts/test-web.sh');
const script = join(repoRoot, 'client-sdk/uniffi/tests/cross_sdk.py');

let server;
let dir;

before(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'edgesync-cross-sdk-'));
});
after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The mobile SDK's view of `docId` (after a sync), editing it first with `--edit`. */
function mobile(token, docId, ...flags) {
  const out = execFileSync('python3', [script, server.url, token, docId, join(dir, 'phone.db'), ...flags], { encoding: 'utf8' });
  return JSON.parse(out);
}

test('a string written on the web is text on mobile, and one written on mobile is text on the web', async () => {
  const token = server.token('pat');
  const web = await Client.open({ url: server.url, dbName: 'cross-sdk-web', getToken: async () => token, backgroundSync: false });
  try {
    const doc = await web.createDocument('Both platforms');
    await doc.change((d) => { d.put(['title'], 'Hello'); d.put(['tags'], ['a']); d.put(['n'], 1); });
    await web.syncNow();

    // Mobile reads what the web wrote, splices into the web's string and writes its own.
    assert.deepEqual(mobile(token, doc.id, '--edit'), { title: 'Hello', tags: ['a'], n: 1 });
    await web.syncNow();
    assert.deepEqual(doc.toJSON(), { title: 'Hello from mobile', note: 'written on mobile', tags: ['a'], n: 1 });

    // The web splices into the mobile's string: text there too.
    await doc.spliceText(['note'], 0, 0, 'web: ');
    await web.syncNow();
    assert.equal(mobile(token, doc.id).note, 'web: written on mobile');
  } finally {
    await web.close();
  }
});
