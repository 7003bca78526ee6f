// Unchanged automerge-repo 2.5.6 clients (the npm packages pinned in package-lock.json) against
// /v1/automerge-repo of the native server or the Worker (docs/protocol.md §12): two Repos sync a
// document, one edits offline and reconnects, a few edits arrive in one message, connections
// drop and come back, the Rust SDK over HTTP sees the same document and its edit reaches them,
// ephemeral messages reach readers only (the sender's other connections too), a removed member
// receives nothing committed after, a viewer's edits are not stored, and a connection without
// a token or a request for someone else's document gets nothing.
import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import { createHmac } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import net from "node:net"
import WebSocket from "ws"
import { Repo, decodeHeads, generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { startServer, waitFor, repoRoot } from "../../client-sdk/web/tests/support/server.mjs"

let server
const repos = []
const scratch = mkdtempSync(join(tmpdir(), "edgesync-automerge-repo-test-"))

/**
 * The server under test: the native server this test starts, or — with EDGESYNC_BASE_URL (the
 * Worker in workerd, scripts/test-automerge-repo.sh workerd) — a running one whose HS256
 * secret, issuer and audience are given (EDGESYNC_TEST_HS256_SECRET, _ISSUER, _AUDIENCE).
 */
function external(url) {
  const b64 = value => Buffer.from(JSON.stringify(value)).toString("base64url")
  const env = name => { const v = process.env[name]; if (!v) throw new Error(`${name} is required`); return v }
  const token = user => {
    const now = Math.floor(Date.now() / 1000)
    const body = `${b64({ alg: "HS256", kid: "hs256", typ: "JWT" })}.${b64({ sub: user, iss: env("EDGESYNC_TEST_ISSUER"), aud: env("EDGESYNC_TEST_AUDIENCE"), iat: now, exp: now + 600 })}`
    return `${body}.${createHmac("sha256", env("EDGESYNC_TEST_HS256_SECRET")).update(body).digest("base64url")}`
  }
  return {
    url,
    token,
    async api(method, path, bearer, body) {
      const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) })
      const text = await res.text()
      return { status: res.status, body: text ? JSON.parse(text) : undefined }
    },
    async stop() {},
  }
}

before(async () => { server = process.env.EDGESYNC_BASE_URL ? external(process.env.EDGESYNC_BASE_URL) : await startServer() })
after(async () => {
  await Promise.all(repos.map(r => r.shutdown().catch(() => {})))
  await server?.stop()
  rmSync(scratch, { recursive: true, force: true })
})

const endpoint = user => `${server.url.replace("http", "ws")}/v1/automerge-repo?token=${encodeURIComponent(server.token(user))}`

/** A Repo of `user` connected to the server (no storage, as in a test page); `url`: another way there. */
function connected(user, url = endpoint(user)) {
  const repo = new Repo({ network: [new WebSocketClientAdapter(url, 200)] })
  repos.push(repo)
  return repo
}

/** The edgesync id (hex) of an automerge-repo document. */
const hexId = handle => Buffer.from(parseAutomergeUrl(handle.url).binaryDocumentId).toString("hex")

/** The document through the Rust SDK over HTTP (client-sdk/src/bin/edgesync-client-get.rs), after putting `edit` (KEY=VALUE). */
function rustSdk(user, id, edit) {
  const bin = process.env.EDGESYNC_CLIENT_GET ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, "target"), "debug", "edgesync-client-get")
  const store = mkdtempSync(join(scratch, "rust-"))
  const args = [join(store, "client.db"), server.url, id, ...(edit ? [edit] : [])]
  return JSON.parse(execFileSync(bin, args, { encoding: "utf8", env: { ...process.env, EDGESYNC_TOKEN: server.token(user) } }))
}

/** Creates a document as `owner`, shares it with `members` ({user: role}); the owner's handle and Repo. */
async function shared(owner, content, members = {}) {
  const repo = connected(owner)
  const handle = repo.create()
  handle.change(doc => Object.assign(doc, content))
  const id = hexId(handle)
  await waitFor(async () => (await server.api("GET", `/v1/docs/${id}`, server.token(owner))).body?.heads?.length > 0, { what: "the server to store the document" })
  for (const [user, role] of Object.entries(members)) {
    const r = await server.api("PUT", `/v1/docs/${id}/members/${user}`, server.token(owner), { role })
    assert.equal(r.status, 200, JSON.stringify(r.body))
  }
  return { handle, repo }
}

test("two Repos sync a document through the server, both ways", async () => {
  const { handle: alice } = await shared("alice", { title: "hello" }, { bob: "editor" })
  const r = await server.api("GET", `/v1/docs/${hexId(alice)}`, server.token("alice"))
  assert.equal(r.body.role, "owner", "the first sync with changes created the document, owned by its creator")

  const bob = await connected("bob").find(alice.url)
  assert.equal(bob.doc().title, "hello")
  bob.change(doc => { doc.fromBob = 1 })
  await waitFor(() => alice.doc().fromBob === 1, { what: "bob's edit to reach alice" })
  alice.change(doc => { doc.fromAlice = 2 })
  await waitFor(() => bob.doc().fromAlice === 2, { what: "alice's edit to reach bob" })
})

test("a Repo that edited offline converges when it connects", async () => {
  const { handle: alice, repo } = await shared("alice", { count: 0 }, { carol: "editor" })
  const binary = await repo.export(alice.documentId)
  const offline = new Repo({ network: [] })
  repos.push(offline)
  const carol = offline.import(binary, { docId: alice.documentId })
  for (let n = 1; n <= 50; n++) carol.change(doc => { doc[`offline${n}`] = n })
  alice.change(doc => { doc.whileAway = true })
  offline.networkSubsystem.addNetworkAdapter(new WebSocketClientAdapter(endpoint("carol")))
  await waitFor(() => alice.doc().offline50 === 50 && carol.doc().whileAway === true, { what: "both sides to converge" })
  assert.deepEqual(alice.heads(), carol.heads())
})

test("a few edits sent in one message (automerge's V2 format concatenates them) are all stored", async () => {
  const { handle: alice, repo } = await shared("alice", { count: 0 }, { carol: "editor" })
  for (let n = 1; n <= 30; n++) alice.change(doc => { doc.count = n })
  const id = hexId(alice)
  const same = (a, b) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort())
  await waitFor(async () => same((await server.api("GET", `/v1/docs/${id}`, server.token("alice"))).body.heads, decodeHeads(alice.heads())), { what: "the server to store alice's edits" })
  // Three changes against a history of 31: fewer than a third, so automerge sends them as
  // changes (concatenated in one entry), not as the whole document.
  const offline = new Repo({ network: [] })
  repos.push(offline)
  const carol = offline.import(await repo.export(alice.documentId), { docId: alice.documentId })
  for (let n = 1; n <= 3; n++) carol.change(doc => { doc[`few${n}`] = n })
  offline.networkSubsystem.addNetworkAdapter(new WebSocketClientAdapter(endpoint("carol")))
  await waitFor(() => alice.doc().few3 === 3, { what: "carol's three edits to reach alice" })
  assert.deepEqual(alice.heads(), carol.heads())
  assert.deepEqual([1, 2, 3].map(n => rustSdk("alice", id)[`few${n}`]), [1, 2, 3], "stored, as the HTTP API serves it")
})

test("connections that drop while both sides edit converge after the clients reconnect", async () => {
  // A TCP relay in front of the server whose connections can be cut.
  const target = new URL(server.url)
  const open = new Set()
  let connections = 0
  const relay = net.createServer(client => {
    connections++
    const upstream = net.connect(Number(target.port), target.hostname)
    client.pipe(upstream).pipe(client)
    for (const s of [client, upstream]) {
      open.add(s)
      s.on("error", () => {})
      s.on("close", () => { open.delete(s); client.end(); upstream.end() })
    }
  })
  await new Promise(r => relay.listen(0, "127.0.0.1", r))
  let danRepo
  try {
    const relayed = user => endpoint(user).replace(`:${target.port}/`, `:${relay.address().port}/`)
    const { handle: alice } = await shared("alice", { n: 0 }, { dan: "editor" })
    danRepo = connected("dan", relayed("dan"))
    const dan = await danRepo.find(alice.url)
    for (let round = 1; round <= 3; round++) {
      for (const s of open) s.end()
      alice.change(doc => { doc[`alice${round}`] = round })
      dan.change(doc => { doc[`dan${round}`] = round })
      await waitFor(() => dan.doc()[`alice${round}`] === round && alice.doc()[`dan${round}`] === round, { what: `round ${round} to converge after the reconnect` })
    }
    assert.deepEqual(dan.heads(), alice.heads())
    assert.ok(connections >= 4, `dan reconnected after each cut (${connections} connections)`)
  } finally {
    // Shut down before the relay goes: an adapter left retrying a closed port may be caught
    // mid-handshake by the final shutdown, which the ws package reports as an uncaught error.
    if (danRepo) {
      repos.splice(repos.indexOf(danRepo), 1)
      await danRepo.shutdown().catch(() => {})
    }
    for (const s of open) s.destroy()
    relay.close()
  }
})

test("the Rust SDK over HTTP sees the same document, and its edit reaches the Repos", async () => {
  const { handle: alice } = await shared("alice", { title: "shared" }, { rust: "editor" })
  alice.change(doc => { doc.list = [1, 2, 3] })
  await waitFor(async () => rustSdk("rust", hexId(alice)).list?.length === 3, { what: "the Rust SDK to see alice's edits" })
  const seen = rustSdk("rust", hexId(alice), "fromRust=yes")
  assert.equal(seen.title, "shared")
  assert.equal(seen.fromRust, "yes")
  // The Rust SDK wrote a plain string (automerge's `str`): JS reads it as an ImmutableString.
  await waitFor(() => String(alice.doc().fromRust) === "yes", { what: "the Rust SDK's edit to reach alice" })
})

test("ephemeral messages (handle.broadcast) reach the document's other Repos, never a non-member's", async () => {
  const { handle: alice } = await shared("alice", { t: 1 }, { erin: "viewer" })
  const erin = await connected("erin").find(alice.url)
  // The sender's own second Repo (another connection of the same user) hears it too.
  const again = await connected("alice").find(alice.url)
  const outsider = connected("oscar")
  await assert.rejects(outsider.find(alice.url), /unavailable/i)
  const heard = []
  const heardAgain = []
  erin.on("ephemeral-message", ({ message }) => heard.push(message))
  again.on("ephemeral-message", ({ message }) => heardAgain.push(message))
  let outsiderHeard = 0
  outsider.networkSubsystem.on("message", m => { if (m.type === "ephemeral") outsiderHeard++ })
  await waitFor(() => { alice.broadcast({ cursor: 7 }); return heard.length > 0 && heardAgain.length > 0 }, { intervalMs: 100, what: "the broadcast to reach erin and alice's other Repo" })
  assert.deepEqual(heard[0], { cursor: 7 })
  assert.deepEqual(heardAgain[0], { cursor: 7 })
  assert.equal(outsiderHeard, 0)
})

test("a member whose access ends receives nothing committed after", async () => {
  const { handle: alice } = await shared("alice", { n: 0 }, { mia: "editor" })
  const mia = await connected("mia").find(alice.url)
  alice.change(doc => { doc.n = 1 })
  await waitFor(() => mia.doc().n === 1, { what: "alice's edit to reach mia" })
  const r = await server.api("DELETE", `/v1/docs/${hexId(alice)}/members/mia`, server.token("alice"))
  assert.equal(r.status, 204)
  alice.change(doc => { doc.secret = "after the removal" })
  await waitFor(async () => rustSdk("alice", hexId(alice)).secret === "after the removal", { what: "alice's edit to be stored" })
  await new Promise(r => setTimeout(r, 1000))
  assert.equal(mia.doc().secret, undefined, "nothing committed after the removal reaches mia")
})

test("a viewer receives the document but its edits are not stored", async () => {
  const { handle: alice } = await shared("alice", { title: "read me" }, { vic: "viewer" })
  const vic = await connected("vic").find(alice.url)
  assert.equal(vic.doc().title, "read me")
  vic.change(doc => { doc.vandalised = true })
  alice.change(doc => { doc.after = 1 })
  await waitFor(() => vic.doc().after === 1, { what: "alice's edit to reach the viewer" })
  await new Promise(r => setTimeout(r, 300))
  assert.equal(rustSdk("alice", hexId(alice)).vandalised, undefined, "the viewer's edit was not stored")
  assert.equal(alice.doc().vandalised, undefined)
})

test("no token, a bad token, or someone else's document: nothing", async () => {
  for (const url of [`${server.url.replace("http", "ws")}/v1/automerge-repo`, `${server.url.replace("http", "ws")}/v1/automerge-repo?token=not-a-token`]) {
    const status = await new Promise(resolve => {
      const ws = new WebSocket(url)
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode))
      ws.on("open", () => { ws.close(); resolve("open") })
      ws.on("error", () => {})
    })
    assert.equal(status, 401, url.replace(/token=.*/, "token=…"))
  }
  const { handle: alice } = await shared("alice", { secret: "s3cr3t" })
  const mallory = connected("mallory")
  await assert.rejects(mallory.find(alice.url), /unavailable/i, "someone else's document is unavailable")
  await assert.rejects(mallory.find(generateAutomergeUrl()), /unavailable/i, "exactly like one that does not exist")
  assert.equal((await server.api("GET", `/v1/docs/${hexId(alice)}`, server.token("alice"))).body.secret, undefined)
})
