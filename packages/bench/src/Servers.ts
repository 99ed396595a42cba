/**
 * The servers the benchmarks talk to, all on this machine: an in-process echo `McpServer`, the real
 * `@modelcontextprotocol/server-everything` as a child process, and a small scripted Streamable HTTP
 * server for the faults server-everything cannot produce on command. Only 127.0.0.1 is ever contacted.
 *
 * @since 0.1.0
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import { EverythingServer } from "@effect-mcp/cli"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { execFileSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as http from "node:http"
import type * as net from "node:net"
import { Worker } from "node:worker_threads"
import { fileURLToPath } from "node:url"
import { z } from "zod"

/**
 * An MCP server with one tool, `echo { message }`, answering `Echo: <message>` like server-everything's.
 * The same server is used by both sides of every in-memory measure.
 *
 * @since 0.1.0
 * @category constructors
 */
export const echoServer = (): McpServer => {
  const server = new McpServer({ name: "bench-echo", version: "1.0.0" })
  server.registerTool("echo", {
    description: "Echoes the message",
    inputSchema: { message: z.string() },
    annotations: { readOnlyHint: true }
  }, async ({ message }) => ({ content: [{ type: "text", text: `Echo: ${message}` }] }))
  return server
}

/**
 * The entry point of server-everything, run with `node`.
 *
 * @since 0.1.0
 * @category models
 */
export const serverEverything: string = fileURLToPath(
  new URL("../node_modules/@modelcontextprotocol/server-everything/dist/index.js", import.meta.url)
)

/**
 * PIDs of this process's children (optionally: whose command line contains `needle`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const childPids = (needle?: string): Array<number> => {
  let out = ""
  try {
    out = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" })
  } catch {
    return []
  }
  return out.split("\n").flatMap((line) => {
    const match = /^\s*(\d+)\s+(.*)$/.exec(line)
    if (match === null) return []
    // `ps` itself is a child of ours while it runs
    if (match[2]!.startsWith("ps ")) return []
    return needle === undefined || match[2]!.includes(needle) ? [Number(match[1])] : []
  })
}

/**
 * Runs server-everything on a free port (or `port`) of 127.0.0.1 until the scope closes: the CLI's
 * `EverythingServer`, which the demo uses too.
 *
 * @since 0.1.0
 * @category constructors
 */
export const startEverything = (
  mode: "streamableHttp" | "sse",
  port?: number
): Effect.Effect<EverythingServer.EverythingServer, EverythingServer.ServerFailed, Scope.Scope> =>
  EverythingServer.start({ transport: mode, port })

/**
 * When the OS reported a process's death: an idle TCP connection to it (or from it), opened before the
 * client's own, ends when the dying process's sockets are closed. It is the earliest any client on this
 * machine can know. The connection lives on a worker thread (`watchWorker.mjs`), so its end is timed when
 * the OS delivers it, not after the main thread's own reaction to the same death.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeathWatch {
  /** `performance.now()` (of this thread) when the connection ended, if it has. */
  readonly endedAt: () => number | undefined
}

type WatchReply =
  | { readonly id: number; readonly type: "ready"; readonly port?: number }
  | { readonly id: number; readonly type: "failed"; readonly message: string }
  | { readonly id: number; readonly type: "ended"; readonly at: number }

const watcher = (() => {
  let worker: Worker | undefined
  let nextId = 0
  const listeners = new Map<number, (reply: WatchReply) => void>()
  const get = () => {
    if (worker === undefined) {
      worker = new Worker(new URL("./watchWorker.mjs", import.meta.url))
      worker.unref()
      worker.on("message", (reply: WatchReply) => listeners.get(reply.id)?.(reply))
    }
    return worker
  }
  /** Forgets a watch on both threads: after its scope, an interrupted opening, or a failed one. */
  const close = (id: number) => {
    listeners.delete(id)
    get().postMessage({ id, type: "close" })
  }
  /** Opens a watch (connecting to `port`, or listening when it is undefined), for the scope; bounded by 5 s. */
  return (port: number | undefined): Effect.Effect<{ readonly port: number; readonly watch: DeathWatch }, Error, Scope.Scope> =>
    Effect.acquireRelease(
      Effect.async<{ readonly id: number; readonly port: number; readonly watch: DeathWatch }, Error>((resume) => {
        const id = nextId++
        let endedAt: number | undefined
        listeners.set(id, (reply) => {
          if (reply.type === "ended") endedAt = reply.at - performance.timeOrigin
          else if (reply.type === "failed") {
            close(id)
            resume(Effect.fail(new Error(`death watch: ${reply.message}`)))
          } else resume(Effect.succeed({ id, port: reply.port ?? port!, watch: { endedAt: () => endedAt } }))
        })
        get().postMessage(port === undefined ? { id, type: "listen" } : { id, type: "connect", port })
        return Effect.sync(() => close(id))
      }).pipe(
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("death watch: not ready within 5 s") })
      ),
      ({ id }) => Effect.sync(() => close(id))
    ).pipe(Effect.map(({ port, watch }) => ({ port, watch })))
})()

/**
 * Opens a {@link DeathWatch} on `127.0.0.1:port` for the scope; bounded by 5 s.
 *
 * @since 0.1.0
 * @category constructors
 */
export const watchDeath = (port: number): Effect.Effect<DeathWatch, Error, Scope.Scope> =>
  Effect.map(watcher(port), ({ watch }) => watch)

/**
 * The preload (a URL for `node --import`) that makes a stdio server connect to a {@link watchChild} (see
 * `watchPreload.mjs`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const watchPreload: string = new URL("./watchPreload.mjs", import.meta.url).href

/**
 * A {@link DeathWatch} for a child process that has no port of its own: a listener on 127.0.0.1 which the
 * child, started with `--import watchPreload` and `EFFECT_MCP_BENCH_WATCH_PORT=port`, connects to. The
 * watch is on the first connection; the listener closes with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const watchChild: Effect.Effect<{ readonly port: number; readonly watch: DeathWatch }, Error, Scope.Scope> =
  watcher(undefined)

// ---------------------------------------------------------------------------------------------------------
// A scripted Streamable HTTP server
// ---------------------------------------------------------------------------------------------------------

/**
 * What the scripted server does with a `tools/call`:
 *
 * - `answer`: answers `echo` with a JSON response;
 * - `sseCut`: starts an SSE response (headers and a comment), then holds it until `cut` destroys the socket;
 * - `status403`: answers 403;
 * - `reset`: destroys the socket as soon as the request has arrived.
 *
 * @since 0.1.0
 * @category models
 */
export type CallMode = "answer" | "sseCut" | "status403" | "reset"

/**
 * @since 0.1.0
 * @category models
 */
export interface ScriptedServer {
  readonly url: string
  readonly setMode: (mode: CallMode) => void
  /** Forgets every session, as a restarted server does: later requests with their ids get 400. */
  readonly forgetSessions: () => void
  /** Resolves when the next `tools/call` has arrived (and its fault, if any, has been applied). */
  readonly nextCall: () => Promise<void>
  /** Destroys the sockets of the held SSE responses (`sseCut`), recording the time of the fault. */
  readonly cut: () => void
  /** `performance.now()` when the last fault was applied. */
  readonly faultAt: () => number
}

const staleSessionBody = JSON.stringify({
  jsonrpc: "2.0",
  error: { code: -32000, message: "Bad Request: No valid session ID provided" },
  id: null
})

/**
 * A minimal Streamable HTTP MCP server with one `echo` tool, in this process, on 127.0.0.1 and a free
 * port, closed with the scope. It answers JSON (no SSE) unless a fault says otherwise, and refuses GET
 * with 405, so nothing but the scripted fault can end a session.
 *
 * @since 0.1.0
 * @category constructors
 */
export const scriptedHttp: Effect.Effect<ScriptedServer, never, Scope.Scope> = Effect.acquireRelease(
  Effect.async<{ server: http.Server; scripted: ScriptedServer }>((resume) => {
    let mode: CallMode = "answer"
    const sessions = new Set<string>()
    const held = new Set<http.ServerResponse>()
    let faultAt = 0
    let waiters: Array<() => void> = []
    const arrived = () => {
      const ready = waiters
      waiters = []
      for (const w of ready) w()
    }
    const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers })
      res.end(typeof body === "string" ? body : JSON.stringify(body))
    }

    const server = http.createServer((req, res) => {
      if (req.method === "GET") {
        res.writeHead(405, { allow: "POST, DELETE" }).end()
        return
      }
      if (req.method === "OPTIONS") {
        // this library asks whether the server is there when a connection breaks
        res.writeHead(204, { allow: "POST, DELETE" }).end()
        return
      }
      const session = req.headers["mcp-session-id"]
      if (req.method === "DELETE") {
        if (typeof session === "string") sessions.delete(session)
        res.writeHead(200).end()
        return
      }
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        const message = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          id?: string | number
          method?: string
          params?: Record<string, any>
        }
        if (message.method === "initialize") {
          const id = randomUUID()
          sessions.add(id)
          json(res, 200, {
            jsonrpc: "2.0",
            id: message.id,
            result: {
              protocolVersion: message.params?.protocolVersion ?? "2025-06-18",
              capabilities: { tools: {} },
              serverInfo: { name: "bench-scripted", version: "1.0.0" }
            }
          }, { "mcp-session-id": id })
          return
        }
        if (typeof session !== "string" || !sessions.has(session)) {
          faultAt = performance.now()
          json(res, 400, staleSessionBody)
          if (message.method === "tools/call") arrived()
          return
        }
        if (message.id === undefined) {
          res.writeHead(202).end()
          return
        }
        const answer = (result: unknown) => json(res, 200, { jsonrpc: "2.0", id: message.id, result })
        switch (message.method) {
          case "ping":
            return answer({})
          case "tools/list":
            return answer({
              tools: [{ name: "echo", inputSchema: { type: "object", properties: { message: { type: "string" } } } }]
            })
          case "tools/call":
            break
          default:
            return json(res, 200, {
              jsonrpc: "2.0",
              id: message.id,
              error: { code: -32601, message: `method not found: ${message.method}` }
            })
        }
        switch (mode) {
          case "answer":
            answer({ content: [{ type: "text", text: `Echo: ${String(message.params?.arguments?.message)}` }] })
            break
          case "sseCut":
            res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
            res.write(": started\n\n")
            held.add(res)
            break
          case "status403":
            faultAt = performance.now()
            res.writeHead(403, { "content-type": "text/plain" }).end("forbidden")
            break
          case "reset":
            faultAt = performance.now()
            req.socket.destroy()
            break
        }
        arrived()
      })
    })
    server.keepAliveTimeout = 60_000
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      resume(Effect.succeed({
        server,
        scripted: {
          url: `http://127.0.0.1:${port}/mcp`,
          setMode: (next) => void (mode = next),
          forgetSessions: () => sessions.clear(),
          nextCall: () => new Promise<void>((resolve) => waiters.push(resolve)),
          cut: () => {
            faultAt = performance.now()
            for (const res of held) res.socket?.destroy()
            held.clear()
          },
          faultAt: () => faultAt
        }
      }))
    })
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    }).pipe(Effect.timeoutOption("2 seconds"), Effect.asVoid)
).pipe(Effect.map(({ scripted }) => scripted))
