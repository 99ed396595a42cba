// Loaded with `node --import` into a stdio server the benchmark will kill: it holds one idle TCP connection
// to the benchmark's watch (EFFECT_MCP_BENCH_WATCH_PORT), which ends when the OS closes the dead process's
// sockets, the same moment its stdio pipes close. It writes nothing and keeps nothing alive.
import * as net from "node:net"

const port = Number(process.env.EFFECT_MCP_BENCH_WATCH_PORT)
if (port > 0) {
  const socket = net.connect(port, "127.0.0.1")
  socket.on("error", () => {})
  socket.unref()
}
