// The offline workload of scripts/bench-automerge-repo.sh for automerge-repo clients: one client
// creates a document and the server stores it; CLIENTS repos without a network each import it
// and make EDITS edits (one change each), then all connect to the server at URL at once. Counts,
// from the clients' side, every WebSocket message and its encoded bytes both ways (the
// handshake included) until every client holds every client's last edit, and the bytes on the
// wire (through a TCP relay: the WebSocket upgrade and frame headers included).
import net from "node:net"
import { Repo, cbor } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

export async function offline(url, clients, edits) {
  // The document, stored by the server first.
  const origin = new Repo({ network: [new WebSocketClientAdapter(url)], sharePolicy: async () => true })
  const created = origin.create()
  const stored = new Promise((resolve, reject) => {
    origin.networkSubsystem.on("message", m => { if (m.type === "sync" && m.documentId === created.documentId) resolve() })
    setTimeout(() => reject(new Error("the server never answered")), 5000)
  })
  created.change(doc => { doc.created = true })
  await stored
  const binary = await origin.export(created.documentId)
  await origin.shutdown()

  const count = { messages: 0, sent: 0, received: 0, wire_sent: 0, wire_received: 0 }
  const server = new URL(url)
  const relay = net.createServer(client => {
    const upstream = net.connect(Number(server.port), server.hostname)
    client.on("data", d => { count.wire_sent += d.length; upstream.write(d) })
    upstream.on("data", d => { count.wire_received += d.length; client.write(d) })
    client.on("close", () => upstream.destroy())
    upstream.on("close", () => client.destroy())
    client.on("error", () => {})
    upstream.on("error", () => {})
  })
  await new Promise(resolve => relay.listen(0, "127.0.0.1", resolve))
  const relayed = `ws://127.0.0.1:${relay.address().port}${server.pathname}${server.search}`
  const peers = Array.from({ length: clients }, (_, c) => {
    const repo = new Repo({ network: [], sharePolicy: async () => true })
    const handle = repo.import(binary, { docId: created.documentId })
    for (let n = 0; n < edits; n++) handle.change(doc => { doc[`n${c}`] = n })
    return { repo, handle }
  })
  const start = performance.now()
  for (const { repo } of peers) {
    const adapter = new WebSocketClientAdapter(relayed)
    const send = adapter.send.bind(adapter)
    adapter.send = message => {
      count.messages++
      count.sent += cbor.encode(message).byteLength
      send(message)
    }
    const receive = adapter.receiveMessage.bind(adapter)
    adapter.receiveMessage = bytes => {
      count.messages++
      count.received += bytes.byteLength
      receive(bytes)
    }
    repo.networkSubsystem.addNetworkAdapter(adapter)
  }
  const converged = () => peers.every(({ handle }) => {
    const doc = handle.doc()
    return peers.every((_, c) => doc?.[`n${c}`] === edits - 1)
  })
  const deadline = performance.now() + 60_000
  while (!converged()) {
    if (performance.now() > deadline) throw new Error("the clients did not converge in 60 s")
    await new Promise(r => setTimeout(r, 5))
  }
  const seconds = (performance.now() - start) / 1000
  for (const { repo } of peers) await repo.shutdown()
  relay.close()
  return { clients, edits, ...count, seconds }
}
