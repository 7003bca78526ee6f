// automerge-repo's sync server as its own repository (automerge-repo-sync-server) runs it: a
// Repo with the WebSocket server adapter, documents on disk, and a share policy that announces
// nothing (peers get only what they ask for).
//   node server.mjs PORT DATA_DIR       prints "listening" once it accepts connections
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const [port, dir] = process.argv.slice(2)
const wss = new WebSocketServer({ host: "127.0.0.1", port: Number(port) })
new Repo({
  network: [new WebSocketServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(dir),
  peerId: `sync-server-${port}`,
  sharePolicy: async () => false,
})
wss.on("listening", () => console.log("listening"))
