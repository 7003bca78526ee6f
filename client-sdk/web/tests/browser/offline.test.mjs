// Headless Chromium (Debian's /usr/bin/chromium via playwright-core): two browser contexts
// (separate IndexedDB) edit one document while one of them is offline; after reconnecting
// both show the same content, and a reload while offline keeps the offline edits.
// The page is served from its own origin, the API from another: CORS is exercised.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { freePort, repoRoot, startServer, waitFor } from '../support/server.mjs';
import { serveStatic } from '../support/static.mjs';

const webRoot = join(repoRoot, 'client-sdk/web');
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

let api;
let site;
let siteUrl;
let browser;

before(async () => {
  api = await startServer();
  const port = await freePort();
  site = await serveStatic(webRoot, port);
  siteUrl = `http://127.0.0.1:${port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
});

after(async () => {
  await browser?.close();
  site?.close();
  await api?.stop();
});

async function openPage(context) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${siteUrl}/tests/browser/page.html`);
  await page.waitForFunction(() => window.sdkLoaded === true);
  return { page, errors };
}

/** Opens a client in the page as `window.client`; events are collected in `window.events`. */
function openClient(page, options) {
  return page.evaluate(async ({ url, token, dbName, backgroundSync }) => {
    window.events = [];
    window.client = await window.sdk.Client.open({ url, dbName, backgroundSync, getToken: async () => token });
    window.client.subscribe((e) => window.events.push({ type: e.type, status: e.status, origin: e.origin, t: Math.round(performance.now()) }));
  }, options);
}

const content = (page, id) => page.evaluate((docId) => window.client.document(docId).toJSON(), id);

/** Serves the site from disk, as an offline app shell (a service worker's cache) would. */
async function cacheAppShell(context) {
  await context.route(`${siteUrl}/**`, async (route) => {
    const path = new URL(route.request().url()).pathname;
    const type = path.endsWith('.wasm') ? 'application/wasm' : path.endsWith('.html') ? 'text/html' : 'text/javascript';
    await route.fulfill({ status: 200, contentType: type, body: readFileSync(join(webRoot, path)) });
  });
}

/** Waits until A and B show the same content; returns it. */
async function converged(a, b, id, what) {
  let seen;
  try {
    await waitFor(async () => {
      seen = [await content(a, id), await content(b, id)];
      return JSON.stringify(seen[0]) === JSON.stringify(seen[1]) && what(seen[0]);
    }, { what: 'A and B to converge', timeoutMs: 20000 });
  } catch (e) {
    const state = (page) => page.evaluate(() => ({ status: window.client.status, events: window.events.slice(-8) }));
    e.message += `\nA: ${JSON.stringify(seen[0])} ${JSON.stringify(await state(a))}\nB: ${JSON.stringify(seen[1])} ${JSON.stringify(await state(b))}`;
    throw e;
  }
  return seen[0];
}

const edit = (page, id, fn, arg) => page.evaluate(async ([docId, body, x]) => {
  const doc = window.client.document(docId);
  await new Function('doc', 'x', `return (async () => { ${body} })()`)(doc, x);
}, [id, fn, arg]);

test('two browsers edit while one is offline, converge, and a reload keeps offline edits', async () => {
  const token = api.token('alice');
  const base = { url: api.url, token, dbName: 'edgesync-test' };
  const ctxA = await browser.newContext();
  const ctxB = await browser.newContext();
  const { page: a, errors: aErrors } = await openPage(ctxA);
  const { page: b, errors: bErrors } = await openPage(ctxB);
  // A syncs often. B's interval and backoff are a minute, so within this test only the
  // browser's `offline`/`online` events (or opening the client) make it sync.
  await openClient(a, { ...base, backgroundSync: { intervalMs: 300, debounceMs: 10 } });
  const slow = { intervalMs: 60000, debounceMs: 10, initialBackoffMs: 60000, maxBackoffMs: 60000 };
  await openClient(b, { ...base, backgroundSync: slow });

  const id = await a.evaluate(async () => {
    const doc = await window.client.createDocument('Shared');
    await doc.change((d) => { d.put(['text'], 'hello'); d.put(['items'], ['first']); });
    await window.client.syncNow();
    return doc.id;
  });
  await b.evaluate(async (docId) => {
    await window.client.openDocument(docId);
    await window.client.syncNow();
  }, id);
  assert.deepEqual(await content(b, id), { text: 'hello', items: ['first'] });

  // 1. B goes offline: the `offline` event makes it try, fail fast and say so.
  await ctxB.setOffline(true);
  await waitFor(() => b.evaluate(() => window.client.status === 'offline'), { what: 'B to notice it is offline' });
  const offlineError = await b.evaluate(() => window.client.syncNow().then(() => null,
    (e) => ({ code: e.code, typed: e instanceof window.sdk.EdgesyncError })));
  assert.deepEqual(offlineError, { code: 'offline', typed: true });
  // Both edit the same text and list.
  await edit(a, id, "await doc.spliceText(['text'], 5, 0, ' world'); await doc.push(['items'], 'A1');");
  await edit(b, id, "await doc.spliceText(['text'], 0, 0, '>> '); await doc.push(['items'], 'B1');");
  assert.equal(await b.evaluate(() => window.client.pendingChanges), 2);
  // (B pulls only when it syncs: A's edits must be on the server before B comes back.)
  await waitFor(() => a.evaluate(() => window.client.pendingChanges === 0), { what: 'A to push its edits' });
  // Back online: the `online` event syncs B at once (pushing and pulling), and A's loop pulls.
  await ctxB.setOffline(false);
  let both = await converged(a, b, id, (c) => c.items.length === 3 && c.text === '>> hello world');
  assert.deepEqual([...both.items].sort(), ['A1', 'B1', 'first']);
  assert.equal(await b.evaluate(() => window.client.pendingChanges), 0);

  // 2. Offline again, both edit; B reloads while offline (the page comes from the app-shell
  // cache): its edits are read back from IndexedDB, where nothing else could have them.
  await ctxB.setOffline(true);
  await waitFor(() => b.evaluate(() => window.client.status === 'offline'), { what: 'B offline again' });
  await edit(a, id, "await doc.put(['by'], 'A');");
  await edit(b, id, "await doc.change((d) => { d.spliceText(['text'], 0, 3, ''); d.put(['offline'], true); });");
  await waitFor(() => a.evaluate(() => window.client.pendingChanges === 0), { what: 'A to push its edit' });
  await cacheAppShell(ctxB);
  await b.reload();
  await b.waitForFunction(() => window.sdkLoaded === true);
  await openClient(b, { ...base, backgroundSync: slow });
  const reloaded = await content(b, id);
  assert.equal(reloaded.text, 'hello world');
  assert.equal(reloaded.offline, true);
  assert.equal(reloaded.by, undefined, "A's edit cannot have reached offline B");
  assert.equal(await b.evaluate(() => window.client.pendingChanges), 1);
  // Chromium keeps a document loaded under offline emulation offline until it navigates
  // again, so B reconnects by reloading online; opening the client syncs right away.
  await ctxB.unrouteAll();
  await ctxB.setOffline(false);
  await b.reload();
  await b.waitForFunction(() => window.sdkLoaded === true);
  await openClient(b, { ...base, backgroundSync: slow });
  both = await converged(a, b, id, (c) => c.offline === true && c.by === 'A');
  assert.equal(both.text, 'hello world');
  assert.equal(await b.evaluate(() => window.client.pendingChanges), 0);
  assert.ok(await a.evaluate(() => window.events.some((e) => e.type === 'changed' && e.origin === 'remote')));

  await a.evaluate(() => window.client.close());
  await b.evaluate(() => window.client.close());
  assert.deepEqual([...aErrors, ...bErrors], []);
  await ctxA.close();
  await ctxB.close();
});

test('a second tab on the same database is refused while the first holds it (Web Locks)', async () => {
  const context = await browser.newContext();
  const { page: first } = await openPage(context);
  const { page: second } = await openPage(context);
  const options = { url: api.url, token: api.token('bob'), dbName: 'tabs', backgroundSync: false };
  await openClient(first, options);
  const refused = await second.evaluate(async (o) => window.sdk.Client.open({ ...o, getToken: () => o.token })
    .then(() => 'opened', (e) => e.code), options);
  assert.equal(refused, 'storeInUse');
  await first.close();   // closing the tab releases the lock
  await waitFor(() => second.evaluate(async (o) => {
    const client = await window.sdk.Client.open({ ...o, getToken: () => o.token }).catch(() => null);
    if (client) await client.close();
    return client !== null;
  }, options), { what: 'the lock to be released' });
  await context.close();
});
