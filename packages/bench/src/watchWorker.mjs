// The death watches of the benchmark, on their own thread: an idle TCP connection whose end is the OS's
// report of a process's death. On the main thread, its `end` would wait behind the client's own reaction to
// the same death and be timed late; here it is timed as soon as the OS delivers it.
//
// Messages in: { id, type: "connect", port } | { id, type: "listen" } | { id, type: "close" }.
// Messages out: { id, type: "ready", port? } | { id, type: "failed", message } | { id, type: "ended", at },
// where `at` is `performance.timeOrigin + performance.now()` (the same clock on every thread).
import * as net from "node:net"
import { parentPort } from "node:worker_threads"

const port = parentPort
const now = () => performance.timeOrigin + performance.now()
const open = new Map()

const watch = (id, socket) => {
  let ended = false
  const end = () => {
    if (ended) return
    ended = true
    port.postMessage({ id, type: "ended", at: now() })
  }
  socket.on("end", end)
  socket.on("close", end)
  socket.on("error", end)
}

port.on("message", (message) => {
  const { id, type } = message
  if (type === "close") {
    const entry = open.get(id)
    open.delete(id)
    entry?.socket?.destroy()
    entry?.server?.close()
    return
  }
  if (type === "connect") {
    const socket = net.connect(message.port, "127.0.0.1")
    open.set(id, { socket })
    const failed = (error) => port.postMessage({ id, type: "failed", message: String(error) })
    socket.once("error", failed)
    socket.once("connect", () => {
      socket.off("error", failed)
      watch(id, socket)
      port.postMessage({ id, type: "ready" })
    })
    return
  }
  if (type === "listen") {
    let watched = false
    const server = net.createServer((socket) => {
      if (watched) return void socket.destroy()
      watched = true
      open.get(id).socket = socket
      watch(id, socket)
    })
    open.set(id, { server })
    server.once("error", (error) => port.postMessage({ id, type: "failed", message: String(error) }))
    server.listen(0, "127.0.0.1", () => port.postMessage({ id, type: "ready", port: server.address().port }))
  }
})
