// The real native API server for the tests: `target/debug/edgesync` (or $EDGESYNC_BIN) on a
// free loopback port with a temporary data dir, plus development tokens minted by its CLI.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

const bin = process.env.EDGESYNC_BIN
  ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'debug', 'edgesync');

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

export async function waitFor(check, { timeoutMs = 15000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Starts the API; `stop()` kills it and removes its data. */
/** The `edgesync` server on a free port; `extra`: more `serve` arguments. */
export async function startServer(extra = []) {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgesync-web-test-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  const child = spawn(bin, ['--dev', '--data-dir', dataDir, '--rate-limit', '0', 'serve', '--addr', `127.0.0.1:${port}`,
    '--compaction-interval', '0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  let exited = false;
  child.on('exit', () => { exited = true; });
  try {
    await waitFor(async () => {
      if (exited) throw new Error(`the server exited:\n${log}`);
      return (await fetch(`${url}/v1/health`)).ok;
    }, { what: `${bin} to answer on ${url}` });
  } catch (e) {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  return {
    url,
    port,
    /** A development token for `user` (signed with the data dir's secret). */
    token(user, ttl) {
      const args = ['--dev', '--data-dir', dataDir, 'token', '--user', user];
      if (ttl !== undefined) args.push('--ttl', String(ttl));
      return execFileSync(bin, args, { encoding: 'utf8' }).trim();
    },
    /** Calls the API directly (JSON in and out). */
    async api(method, path, token, body) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    log: () => log,
    async stop() {
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
