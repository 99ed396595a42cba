import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import * as net from "node:net"
import * as path from "node:path"
import type * as Api from "../EverythingServer.js"
import { ServerFailed } from "../EverythingServer.js"

/** @internal */
export const entryPoint = (): string => {
  const require = createRequire(import.meta.url)
  // the package's `bin` is dist/index.js; resolve its directory through the package.json
  const main = require.resolve("@modelcontextprotocol/server-everything/package.json")
  return path.join(path.dirname(main), "dist", "index.js")
}

/** @internal */
export const freePort: Effect.Effect<number, ServerFailed> = Effect.async<number, ServerFailed>((resume) => {
  const server = net.createServer()
  server.once("error", (error) => resume(Effect.fail(new ServerFailed({ detail: `no free port: ${error.message}` }))))
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Whether a process with this PID runs (signal 0 tests without sending anything). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Whether `port` can be listened on by number: an integer from 1 to 65535. */
export const isPort = (port: number): boolean => Number.isInteger(port) && port >= 1 && port <= 65535

/** What the loopback shim writes on stderr once the server listens: the readiness line. */
const listeningMark = "@effect-mcp/cli: listening on"

/**
 * Preloaded into server-everything with `--import`: it calls `app.listen(PORT, callback)`, which listens
 * on every interface; a `listen(port[, callback])` without a host is given 127.0.0.1. The server's own
 * "listening on port N" line is also printed when listening failed (Express passes the error to the
 * callback), so the shim announces the `listening` event itself. Inline as a data: URL, so that it ships
 * with this module, compiled or not.
 */
const loopbackShim = `data:text/javascript,${
  encodeURIComponent(`import * as net from "node:net"
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function(...args) {
  const [port, next] = args
  if ((typeof port === "number" || (typeof port === "string" && /^[0-9]+$/.test(port))) && (next === undefined || typeof next === "function")) {
    args.splice(1, 0, "127.0.0.1")
  }
  this.once("listening", () => {
    const address = this.address()
    if (address !== null && typeof address === "object") process.stderr.write(${JSON.stringify(listeningMark)} + " " + address.address + ":" + address.port + "\\n")
  })
  return listen.apply(this, args)
}
`)
}`

/** The child process, from the spawn on: it is a resource before it is ready. */
interface Child {
  readonly server: Api.EverythingServer
  /** Succeeds once the server listens on 127.0.0.1:port; fails if it exits or cannot be spawned first. */
  readonly ready: Effect.Effect<void, ServerFailed>
}

const spawnChild = (entry: string, transport: Api.EverythingServer.Transport, port: number): Child => {
  const child = spawn(process.execPath, ["--import", loopbackShim, entry, transport], {
    // only what it needs: no secrets of ours reach it
    env: { PATH: process.env.PATH ?? "", PORT: String(port) },
    stdio: ["ignore", "ignore", "pipe"]
  })
  let stderr = ""
  let outcome: Exit.Exit<void, ServerFailed> | undefined
  let notify: ((exit: Exit.Exit<void, ServerFailed>) => void) | undefined
  const settle = (exit: Exit.Exit<void, ServerFailed>) => {
    if (outcome !== undefined) return
    outcome = exit
    notify?.(exit)
  }
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once("exit", () => resolve())
  })
  const running = () => child.exitCode === null && child.signalCode === null
  const kill = (signal: NodeJS.Signals = "SIGKILL"): Effect.Effect<void> =>
    Effect.gen(function*() {
      if (running() && child.pid !== undefined) {
        yield* Effect.sync(() => {
          try {
            process.kill(child.pid!, signal)
          } catch {
            // already gone
          }
        })
      }
      yield* Effect.promise(() => exited).pipe(Effect.timeoutOption("2 seconds"))
    })
  child.once("error", (error) => settle(Exit.fail(new ServerFailed({ detail: `cannot start: ${error.message}` }))))
  // keep draining stderr for the process's whole life, so that it never blocks on a full pipe
  const mark = `${listeningMark} 127.0.0.1:${port}\n`
  child.stderr!.on("data", (chunk: Buffer) => {
    if (outcome !== undefined) return
    stderr = (stderr + chunk.toString()).slice(-4000)
    if (stderr.includes(mark)) settle(Exit.void)
  })
  child.once("exit", (code, signal) => {
    const tail = stderr.trim().split("\n").slice(-3).join(" | ")
    settle(Exit.fail(new ServerFailed({ detail: `exited before listening (${signal ?? `code ${code}`}): ${tail}` })))
  })
  return {
    server: {
      pid: child.pid ?? -1,
      port,
      transport,
      url: `http://127.0.0.1:${port}/${transport === "sse" ? "sse" : "mcp"}`,
      kill,
      isAlive: Effect.sync(() => running() && child.pid !== undefined && isAlive(child.pid))
    },
    ready: Effect.async<void, ServerFailed>((resume) => {
      if (outcome !== undefined) return resume(outcome)
      notify = resume
      return Effect.sync(() => {
        notify = undefined
      })
    })
  }
}

/** @internal */
export const start = (options: Api.EverythingServer.Options = {}): Effect.Effect<Api.EverythingServer, ServerFailed, Scope.Scope> =>
  Effect.gen(function*() {
    if (options.port !== undefined && !isPort(options.port)) {
      return yield* new ServerFailed({ detail: `the port must be an integer from 1 to 65535, got ${options.port}` })
    }
    const port = options.port ?? (yield* freePort)
    const transport = options.transport ?? "streamableHttp"
    const startTimeout = Duration.decode(options.startTimeout ?? "20 seconds")
    const entry = yield* Effect.try({
      try: entryPoint,
      catch: (e) => new ServerFailed({ detail: `cannot find @modelcontextprotocol/server-everything: ${String(e)}` })
    })
    // the process is a resource from its spawn on; the wait for it to listen is interruptible and bounded, and
    // whatever ends it early (timeout, exit, Ctrl-C) kills the process at once rather than when the scope closes
    const child = yield* Effect.acquireRelease(
      Effect.try({
        try: () => spawnChild(entry, transport, port),
        catch: (e) => new ServerFailed({ detail: `cannot start: ${e instanceof Error ? e.message : String(e)}` })
      }),
      ({ server }) =>
        Effect.gen(function*() {
          yield* server.kill("SIGTERM")
          if (yield* server.isAlive) yield* server.kill("SIGKILL")
        })
    )
    yield* child.ready.pipe(
      Effect.timeoutFail({
        duration: startTimeout,
        onTimeout: () => new ServerFailed({ detail: `not listening on port ${port} after ${Duration.format(startTimeout)}` })
      }),
      Effect.onError(() => child.server.kill("SIGKILL"))
    )
    return child.server
  })
