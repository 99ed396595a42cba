import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
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

/** @internal */
export const start = (options: Api.EverythingServer.Options = {}): Effect.Effect<Api.EverythingServer, ServerFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const port = options.port ?? (yield* freePort)
    const transport = options.transport ?? "streamableHttp"
    const startTimeout = Duration.decode(options.startTimeout ?? "20 seconds")
    const entry = yield* Effect.try({
      try: entryPoint,
      catch: (e) => new ServerFailed({ detail: `cannot find @modelcontextprotocol/server-everything: ${String(e)}` })
    })

    return yield* Effect.acquireRelease(
      Effect.async<Api.EverythingServer, ServerFailed>((resume) => {
        const child = spawn(process.execPath, [entry, transport], {
          // only what it needs: no secrets of ours reach it
          env: { PATH: process.env.PATH ?? "", PORT: String(port) },
          stdio: ["ignore", "ignore", "pipe"]
        })
        let stderr = ""
        let settled = false
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
        child.once("error", (error) => {
          if (!settled) {
            settled = true
            resume(Effect.fail(new ServerFailed({ detail: `cannot start: ${error.message}` })))
          }
        })
        // keep draining stderr for the process's whole life, so that it never blocks on a full pipe
        child.stderr!.on("data", (chunk: Buffer) => {
          if (settled) return
          stderr = (stderr + chunk.toString()).slice(-4000)
          // "listening on port N" (Streamable HTTP), "Server is running on port N" (SSE)
          if (/(listening|running) on port \d+/i.test(stderr)) {
            settled = true
            resume(Effect.succeed({
              pid: child.pid!,
              port,
              transport,
              url: `http://127.0.0.1:${port}/${transport === "sse" ? "sse" : "mcp"}`,
              kill,
              isAlive: Effect.sync(() => running() && isAlive(child.pid!))
            }))
          }
        })
        child.once("exit", (code, signal) => {
          if (!settled) {
            settled = true
            const tail = stderr.trim().split("\n").slice(-3).join(" | ")
            resume(Effect.fail(new ServerFailed({ detail: `exited before listening (${signal ?? `code ${code}`}): ${tail}` })))
          }
        })
        // interrupted while starting (timeout, Ctrl-C): leave nothing behind
        return kill("SIGKILL")
      }).pipe(
        Effect.timeoutFail({
          duration: startTimeout,
          onTimeout: () => new ServerFailed({ detail: `not listening on port ${port} after ${Duration.format(startTimeout)}` })
        })
      ),
      (server) =>
        Effect.gen(function*() {
          yield* server.kill("SIGTERM")
          if (yield* server.isAlive) yield* server.kill("SIGKILL")
        })
    )
  })
