// The packed SDK as its users get it: the tarball of scripts/pack-web.sh ($EDGESYNC_WEB_TARBALL)
//   - installs with plain `npm install` into a fresh project and loads in Node (no Rust),
//   - builds without warnings about Node built-ins in a webpack 5 project and in the Vite demo
//     (examples/web-demo), and both bundles work in headless Chromium against the real server;
//     the webpack project's React app (`useDocument`, edgesync-web/react) re-renders on local
//     and remote edits,
//   - the demo: two browsers edit one list, one of them offline for a while; both end up
//     showing the same content (a screenshot is saved in tests/artifacts/).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { freePort, repoRoot, startServer, waitFor } from '../support/server.mjs';
import { serveStatic } from '../support/static.mjs';

const tarball = process.env.EDGESYNC_WEB_TARBALL;
if (!tarball || !existsSync(tarball)) throw new Error(`EDGESYNC_WEB_TARBALL (${tarball}) is missing: run scripts/pack-web.sh`);
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const demoDir = join(repoRoot, 'examples/web-demo');
const webpackDir = join(repoRoot, 'client-sdk/web/tests/webpack-app');
const artifacts = join(repoRoot, 'client-sdk/web/tests/artifacts');

let api;
let browser;
const sites = [];

before(async () => {
  api = await startServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
});

after(async () => {
  await browser?.close();
  for (const site of sites) site.close();
  await api?.stop();
});

function npm(cwd, args) {
  return execFileSync('npm', [...args, '--no-audit', '--no-fund', '--ignore-scripts'], { cwd, encoding: 'utf8', stdio: 'pipe' });
}

/** Runs a bundler; returns its output (stdout and stderr), failing the test on a non-zero exit. */
function bundle(cwd, bin, args) {
  const run = spawnSync(join(cwd, 'node_modules/.bin', bin), args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const output = `${run.stdout}\n${run.stderr}`;
  assert.equal(run.status, 0, `${bin} failed:\n${output}`);
  return output;
}

/** What a build must not say or contain: Node built-ins reaching a browser bundle. */
function assertBrowserClean(output, distDir) {
  // (webpack's size hints about the wasm are warnings too, but not about Node built-ins.)
  assert.doesNotMatch(output, /node:|built-?in|externalized for browser|Module not found|Can't resolve|polyfill/i, output);
  const files = readdirSync(distDir, { recursive: true }).map(String);
  const wasm = files.filter((f) => f.endsWith('.wasm'));
  assert.equal(wasm.length, 1, `one .wasm asset in ${distDir}: ${files.join(', ')}`);
  for (const js of files.filter((f) => f.endsWith('.js'))) {
    assert.doesNotMatch(readFileSync(join(distDir, js), 'utf8'), /node:fs|readFile\(/, `${js} reads files`);
  }
}

async function serve(root) {
  const port = await freePort();
  sites.push(await serveStatic(root, port));
  return `http://127.0.0.1:${port}`;
}

test('the tarball installs into a fresh project with plain npm and loads in Node', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgesync-fresh-'));
  try {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'fresh', private: true, type: 'module' }));
    npm(dir, ['install', tarball]);
    const installed = join(dir, 'node_modules/edgesync-web');
    assert.ok(existsSync(join(installed, 'wasm/edgesync_web_bg.wasm')), 'the wasm is in the package');
    // Node picks the `node` entry point, which reads the module from disk.
    const out = execFileSync(process.execPath, ['--input-type=module', '-e',
      "import { init, Client } from 'edgesync-web'; await init(); console.log(typeof Client.open);"], { cwd: dir, encoding: 'utf8' });
    assert.equal(out.trim(), 'function');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a webpack 5 project builds it without Node built-ins; the bundle syncs in Chromium, and its React app re-renders on both browsers\' edits', async () => {
  npm(webpackDir, ['install', '--no-save', tarball]);
  const output = bundle(webpackDir, 'webpack', []);
  assertBrowserClean(output, join(webpackDir, 'dist'));
  const site = await serve(webpackDir);
  const page = await browser.newPage();
  try {
    const token = api.token('webpack-user');
    await page.goto(`${site}/index.html?api=${encodeURIComponent(api.url)}&token=${encodeURIComponent(token)}`);
    const result = await waitFor(() => page.evaluate(() => window.result), { what: 'the webpack app to open a client' });
    assert.equal(result.ok, true, JSON.stringify(result));
    const stored = await api.api('GET', `/v1/docs/${result.id}`, token);
    assert.equal(stored.status, 200, 'the document reached the server');
  } finally {
    await page.close();
  }

  // The React app of the same build (`useDocument` from edgesync-web/react) in two browsers:
  // each re-renders on its own clicks and on the other's.
  const token = api.token('react-user');
  const reactPage = (db, doc) => `${site}/react.html?api=${encodeURIComponent(api.url)}&token=${encodeURIComponent(token)}&db=${db}${doc ? `&doc=${doc}` : ''}`;
  const [ctxA, ctxB] = [await browser.newContext(), await browser.newContext()];
  try {
    const [a, b] = [await ctxA.newPage(), await ctxB.newPage()];
    const errors = [];
    for (const p of [a, b]) p.on('pageerror', (e) => errors.push(e));
    await a.goto(reactPage('react-a'));
    const count = (p) => p.evaluate(() => window.failed ?? document.getElementById('count')?.textContent);
    await waitFor(async () => (await count(a)) === '0', { what: 'the counter in A' });
    const id = await a.evaluate(() => window.docId);
    await b.goto(reactPage('react-b', id));
    await waitFor(async () => (await count(b)) === '0', { what: 'the counter in B' });
    await b.click('#increment');
    await waitFor(async () => (await count(b)) === '1' && (await count(a)) === '1', { what: "B's click on both screens" });
    await a.click('#increment');
    await waitFor(async () => (await count(a)) === '2' && (await count(b)) === '2', { what: "A's click on both screens" });
    assert.deepEqual(errors, []);
  } finally {
    await ctxA.close();
    await ctxB.close();
  }
});

test('the Vite demo builds from the tarball; two browsers edit a list, one offline, and converge', async () => {
  npm(demoDir, ['install', '--no-save', tarball]);
  const output = bundle(demoDir, 'vite', ['build']);
  assertBrowserClean(output, join(demoDir, 'dist'));
  const site = await serve(join(demoDir, 'dist'));
  const token = api.token('alice');
  const url = (db, doc) => `${site}/index.html?api=${encodeURIComponent(api.url)}&token=${encodeURIComponent(token)}&db=${db}${doc ? `&doc=${doc}` : ''}`;
  const ctxA = await browser.newContext({ viewport: { width: 800, height: 700 } });
  const ctxB = await browser.newContext();
  const errors = [];
  try {
    const a = await ctxA.newPage();
    const b = await ctxB.newPage();
    for (const page of [a, b]) page.on('pageerror', (e) => errors.push(e));
    await a.goto(url('demo-a'));
    await a.waitForFunction(() => window.demo?.doc);
    const id = await a.evaluate(() => window.demo.doc.id);
    assert.equal(await a.evaluate(() => window.demo.client.pendingChanges), 0, 'a new list is pushed before its link is shown');
    await b.goto(url('demo-b', id));
    await b.waitForFunction(() => window.demo?.doc);

    const add = async (page, text) => {
      await page.fill('#add input', text);
      await page.press('#add input', 'Enter');
    };
    const items = (page) => page.$$eval('#todos li span', (spans) => spans.map((s) => s.textContent));
    await add(a, 'Buy milk');
    await waitFor(async () => (await items(b)).includes('Buy milk'), { what: "A's item on B's screen" }).catch(async (e) => {
      const state = (page) => page.evaluate(() => ({ doc: window.demo.doc.toJSON(), status: document.getElementById('status').textContent }));
      e.message += `\nA: ${JSON.stringify(await state(a))}\nB: ${JSON.stringify(await state(b))}\nerrors: ${errors.join('; ')}`;
      throw e;
    });

    // B goes offline and keeps editing; A edits too.
    await ctxB.setOffline(true);
    await waitFor(() => b.evaluate(() => document.getElementById('status').textContent.startsWith('offline')), { what: 'B to show it is offline' });
    await add(b, 'Walk the dog (offline)');
    await b.click('#todos li:first-child input[type=checkbox]');
    await b.fill('#notes', 'Written offline');
    await add(a, 'Call the bank');
    await waitFor(() => a.evaluate(() => window.demo.client.pendingChanges === 0), { what: 'A to push its edit' });
    assert.ok(!(await items(b)).includes('Call the bank'), 'offline B cannot have A\'s new item');

    await ctxB.setOffline(false);
    const shown = async (page) => ({ items: await items(page), notes: await page.inputValue('#notes'), done: await page.$$eval('#todos li.done span', (s) => s.map((x) => x.textContent)) });
    let both;
    await waitFor(async () => {
      both = [await shown(a), await shown(b)];
      return JSON.stringify(both[0]) === JSON.stringify(both[1]) && both[0].items.length === 3;
    }, { what: 'A and B to show the same list', timeoutMs: 20000 }).catch((e) => {
      e.message += `\nA: ${JSON.stringify(both?.[0])}\nB: ${JSON.stringify(both?.[1])}`;
      throw e;
    });
    assert.deepEqual([...both[0].items].sort(), ['Buy milk', 'Call the bank', 'Walk the dog (offline)']);
    assert.deepEqual(both[0].done, ['Buy milk']);
    assert.equal(both[0].notes, 'Written offline');
    assert.deepEqual(await a.evaluate(() => window.demo.doc.toJSON()), await b.evaluate(() => window.demo.doc.toJSON()));
    mkdirSync(artifacts, { recursive: true });
    await a.screenshot({ path: join(artifacts, 'web-demo.png') });
    assert.deepEqual(errors, []);
  } finally {
    await ctxA.close();
    await ctxB.close();
  }
});
