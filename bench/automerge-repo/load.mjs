// The shared-documents workload of scripts/bench-automerge-repo.sh, driven by unchanged
// automerge-repo clients: CLIENTS repos connect to the sync server at URL; the first creates
// DOCS documents, every client opens them all, then each makes ROUNDS small edits, round n on
// document n mod DOCS, one at a time: an edit, then the server's sync reply for that document
// (what edge-load's one sync request per edit does over HTTP). At the end every client must
// hold every client's last edit of every document (the JSON line also counts the messages the
// clients sent and received). PACE `unpaced` makes the edits back to back
// instead (yielding to the event loop between them), letting automerge-repo batch them.
// `create`: each client creates ROUNDS documents instead, each with one change, one at a time,
// each followed by the server's sync holding it (DOCS is unused). `offline`: see offline.mjs.
//   node load.mjs URL CLIENTS ROUNDS DOCS [reply|unpaced|create|offline]     prints one JSON line
import { decodeSyncMessage, getHeads } from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { offline } from "./offline.mjs"

// Messages each way, for the JSON line: what the clients sent (through the adapter) and what
// reached them from the server.
let sent = 0, received = 0
const send = WebSocketClientAdapter.prototype.send
WebSocketClientAdapter.prototype.send = function (message) {
  sent++
  return send.call(this, message)
}

const [url, clients, rounds, docs] = [process.argv[2], ...process.argv.slice(3, 6).map(Number)]
const mode = process.argv[6] ?? "reply"
const paced = mode !== "unpaced"
if (mode === "offline") {
  console.log(JSON.stringify(await offline(url, clients, rounds)))
  process.exit(0)
}

function client() {
  const repo = new Repo({ network: [new WebSocketClientAdapter(url)], sharePolicy: async () => true })
  // documentId -> the next server sync for it: resolve, and the heads it must hold (if any)
  const waiters = new Map()
  repo.networkSubsystem.on("message", message => {
    received++
    if (message.type !== "sync" || !message.senderId.startsWith("sync-server")) return
    const waiter = waiters.get(message.documentId)
    if (!waiter) return
    if (waiter.heads) {
      const held = new Set(decodeSyncMessage(message.data).heads)
      if (!waiter.heads().every(h => held.has(h))) return
    }
    waiters.delete(message.documentId)
    waiter.resolve(true)
  })
  // `heads`: wait for a sync showing the server holds them (its first answer to a new
  // document only asks for its changes).
  const reply = (documentId, heads, ms = 5000) =>
    new Promise(resolve => {
      waiters.set(documentId, { resolve, heads })
      setTimeout(() => resolve(false), ms)
    })
  return { repo, reply }
}

const peers = Array.from({ length: clients }, client)
if (mode === "create") {
  const latencies = []
  const start = performance.now()
  await Promise.all(peers.map(async peer => {
    for (let n = 0; n < rounds; n++) {
      const t = performance.now()
      const handle = peer.repo.create()
      const acked = peer.reply(handle.documentId, () => getHeads(handle.doc()))
      handle.change(doc => { doc.n = n })
      if (!(await acked)) throw new Error(`the server never answered document ${n}`)
      latencies.push(performance.now() - t)
    }
  }))
  const done = (performance.now() - start) / 1000
  latencies.sort((a, b) => a - b)
  console.log(JSON.stringify({ edits: latencies.length, edit_seconds: done, converged_seconds: done,
    p50_ms: latencies[Math.floor(latencies.length / 2)], timeouts: 0 }))
  for (const peer of peers) await peer.repo.shutdown()
  process.exit(0)
}
const first = peers[0]
const created = []
for (let d = 0; d < docs; d++) {
  const handle = first.repo.create({ created: d })
  // Stored before the others open it: asked for too early, it is unavailable to them.
  const acked = first.reply(handle.documentId, () => getHeads(handle.doc()))
  handle.change(doc => { doc.ready = true })
  if (!(await acked)) throw new Error(`the server never answered document ${d}`)
  created.push(handle)
}
const handles = [created]
for (const peer of peers.slice(1)) handles.push(await Promise.all(created.map(h => peer.repo.find(h.url))))

const latencies = []
let timeouts = 0
const start = performance.now()
await Promise.all(peers.map(async (peer, c) => {
  for (let n = 0; n < rounds; n++) {
    const handle = handles[c][n % docs]
    const t = performance.now()
    const acked = paced && peer.reply(handle.documentId)
    handle.change(doc => { doc[`c${c}`] = n })
    if (paced && !(await acked)) timeouts++
    if (!paced) await new Promise(r => setImmediate(r))
    latencies.push(performance.now() - t)
  }
}))
const edited = performance.now()

// Converged: every client sees, in every document, each client's last value for it.
const last = d => { let n = rounds - 1; while (n % docs !== d) n--; return n }
const converged = () => handles.every(hs => hs.every((h, d) =>
  peers.every((_, c) => last(d) < 0 || h.doc()?.[`c${c}`] === last(d))))
const deadline = performance.now() + 60_000
while (!converged()) {
  if (performance.now() > deadline) throw new Error("the clients did not converge in 60 s")
  await new Promise(r => setTimeout(r, 20))
}
const done = performance.now()
latencies.sort((a, b) => a - b)
const pct = p => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]
console.log(JSON.stringify({
  edits: latencies.length, edit_seconds: (edited - start) / 1000, converged_seconds: (done - start) / 1000,
  p50_ms: pct(0.5), p99_ms: pct(0.99), timeouts, messages_sent: sent, messages_received: received,
}))
for (const peer of peers) await peer.repo.shutdown()
process.exit(0)
