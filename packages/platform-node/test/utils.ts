import { McpError, type McpSession } from "@effect-mcp/session"
import { FetchHttpClient } from "@effect/platform"
import type * as HttpClient from "@effect/platform/HttpClient"
import { NodeHttpClient } from "@effect/platform-node"
import { assert } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { execFileSync, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import * as net from "node:net"
import { fileURLToPath } from "node:url"

export const serverEverything = fileURLToPath(
  new URL("../node_modules/@modelcontextprotocol/server-everything/dist/index.js", import.meta.url)
)
export const stdioFixture = fileURLToPath(new URL("./fixtures/stdio-server.mjs", import.meta.url))

export const clientInfo = { name: "platform-node-test", version: "0.0.0" }

/**
 * The `HttpClient`s a user may give the HTTP transports: each must see the same typed failures. `ownsPool`:
 * the layer's connection pool is its own and closes with its scope; `fetch` uses the global one, whose idle
 * keep-alive sockets outlive any session. `followsRedirects`: the client follows redirects itself, before
 * the transport sees them (`fetch`: its `RequestInit` is the user's to set).
 */
export const httpClients: ReadonlyArray<{
  readonly name: string
  readonly layer: Layer.Layer<HttpClient.HttpClient>
  readonly ownsPool: boolean
  readonly followsRedirects: boolean
}> = [
  { name: "undici", layer: NodeHttpClient.layerUndici, ownsPool: true, followsRedirects: false },
  { name: "node:http", layer: NodeHttpClient.layer, ownsPool: true, followsRedirects: false },
  { name: "fetch", layer: FetchHttpClient.layer, ownsPool: false, followsRedirects: true }
]

/** A port that was free a moment ago, on 127.0.0.1. */
export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Whether a process runs: it exists and is not a zombie. An orphan is reparented to PID 1 (or a subreaper),
 * which may be slow to reap it, or never do so: its death is read from `/proc/<pid>/stat` (Linux).
 */
export const isRunning = (pid: number): boolean => {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1")
  } catch {
    return false
  }
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
}

/** PIDs of this process's children whose command line contains `needle`. */
export const childPids = (needle: string): Array<number> => {
  let out = ""
  try {
    out = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" })
  } catch {
    return []
  }
  return out.split("\n").flatMap((line) => {
    const match = /^\s*(\d+)\s+(.*)$/.exec(line)
    return match !== null && match[2]!.includes(needle) ? [Number(match[1])] : []
  })
}

export interface ServerProcess {
  readonly pid: number
  readonly port: number
  readonly url: string
  readonly kill: (signal?: NodeJS.Signals) => Effect.Effect<void>
}

/**
 * Runs server-everything on a free port of 127.0.0.1 (it listens on all interfaces; we only ever connect to
 * the loopback) until the test's scope closes; killed by PID.
 */
export const startEverything = (
  mode: "streamableHttp" | "sse",
  port?: number
): Effect.Effect<ServerProcess, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const chosen = port ?? (yield* freePort)
    return yield* Effect.acquireRelease(
      Effect.async<ServerProcess, Error>((resume) => {
        const child = spawn(process.execPath, [serverEverything, mode], {
          env: { PATH: process.env.PATH ?? "", PORT: String(chosen) },
          stdio: ["ignore", "ignore", "pipe"]
        })
        let stderr = ""
        let done = false
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
        const kill = (signal: NodeJS.Signals = "SIGKILL") =>
          Effect.promise(() => {
            if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal)
            return exited
          })
        child.stderr!.on("data", (chunk: Buffer) => {
          stderr += chunk.toString()
          if (!done && /port \d+/.test(stderr)) {
            done = true
            resume(Effect.succeed({
              pid: child.pid!,
              port: chosen,
              url: mode === "sse" ? `http://127.0.0.1:${chosen}/sse` : `http://127.0.0.1:${chosen}/mcp`,
              kill
            }))
          }
        })
        child.once("exit", (code) => {
          if (!done) {
            done = true
            resume(Effect.fail(new Error(`server-everything exited with ${code}: ${stderr}`)))
          }
        })
        return Effect.promise(() => {
          if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGKILL")
          return exited
        })
      }).pipe(Effect.timeoutFail({ duration: "15 seconds", onTimeout: () => new Error("server-everything did not start") })),
      (server) => server.kill("SIGKILL")
    )
  })

/** Milliseconds an effect took (wall clock: these are real sockets and processes). */
export const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const exit = yield* Effect.exit(effect)
    return { exit, millis: performance.now() - start }
  })

export type Session = McpSession.McpSession.Service

/** Calls a (scripted) tool and returns the crash it must end in, with its latency. */
export const crashing = (session: Session, name: string) =>
  Effect.map(timed(session.callTool({ name, arguments: {} })), ({ exit, millis }) => ({ crash: crashOf(exit), millis }))

/** The typed failure of an exit, asserting there is one. */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const failure = Cause.failureOption((exit as Exit.Failure<A, E>).cause)
  assert.isTrue(failure._tag === "Some", `expected a typed failure, got ${Cause.pretty((exit as Exit.Failure<A, E>).cause)}`)
  return (failure as { value: E }).value
}

/** The `TransportCrashed` of an exit, asserting there is one. */
export const crashOf = <A, E>(exit: Exit.Exit<A, E>): McpError.TransportCrashed => {
  const error = failureOf(exit)
  assert.isTrue(McpError.isTransportCrashed(error), `expected TransportCrashed, got ${String(error)}`)
  return error as McpError.TransportCrashed
}

/** Waits in real time, whatever the Clock: sockets and the server's timers do not follow `TestClock`. */
export const realSleep = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/** Polls (in real time, at most 5 s) until `condition` holds: I/O on a busy machine takes what it takes. */
export const until = (what: string, condition: Effect.Effect<boolean>) =>
  Effect.gen(function*() {
    for (let waited = 0; waited < 5000; waited += 10) {
      if (yield* condition) return
      yield* realSleep(10)
    }
    assert.fail(`still waiting for ${what} after 5 s`)
  })

/** Until something sleeps on the (test) Clock until `millis` from now: a transport waiting on its Clock. */
export const sleepingFor = (millis: number) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    until(
      `a sleep of ${millis} ms on the Clock`,
      Effect.map(TestClock.sleeps(), Chunk.some((at) => at === now + millis))
    ))

/**
 * Until something sleeps `millis` on the (test) Clock; then moves the Clock to 1 ms before that sleep ends,
 * checks (after 100 ms of real time, for the sockets) that `notYet` holds, and moves it the last millisecond.
 */
export const wakesAfter = (millis: number, notYet: Effect.Effect<void>) =>
  Effect.gen(function*() {
    yield* sleepingFor(millis)
    yield* TestClock.adjust(millis - 1)
    yield* realSleep(100)
    yield* notYet
    yield* TestClock.adjust(1)
  })

/** The session package's leak counter: wraps a transport and counts the SDK transports left reachable. */
export { tracking } from "../../session/test/utils.js"

/** The session package's listener for the process's unhandled rejections, for the current scope. */
export { unhandledRejections } from "../../session/test/utils.js"

/** The official 2.x server (`@modelcontextprotocol/server`), MCP 2026-07-28, as a fixture. */
export const modernFixture = fileURLToPath(new URL("./fixtures/modern-server.mjs", import.meta.url))

/**
 * Runs the 2026-07-28 fixture over Streamable HTTP on a free port of 127.0.0.1 until the test's scope closes;
 * `legacy: "reject"` makes it serve 2026-07-28 only.
 */
export const startModern = (options: { readonly legacy?: "reject" | "serve" } = {}): Effect.Effect<
  { readonly url: string; readonly kill: Effect.Effect<void> },
  Error,
  Scope.Scope
> =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly kill: Effect.Effect<void>; readonly exited: Promise<void> }, Error>((resume) => {
      const child = spawn(process.execPath, [modernFixture, "http"], {
        env: { PATH: process.env.PATH ?? "", ...(options.legacy === "reject" ? { LEGACY: "reject" } : {}) },
        stdio: ["ignore", "ignore", "pipe"]
      })
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
      const kill = Effect.promise(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGKILL")
        return exited
      })
      let stderr = ""
      let done = false
      child.stderr!.on("data", (chunk: Buffer) => {
        stderr += chunk.toString()
        const found = /listening (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(stderr)
        if (!done && found !== null) {
          done = true
          resume(Effect.succeed({ url: found[1]!, kill, exited }))
        }
      })
      child.once("exit", (code) => {
        if (!done) {
          done = true
          resume(Effect.fail(new Error(`the 2026-07-28 fixture exited with ${code}: ${stderr}`)))
        }
      })
      return kill
    }).pipe(Effect.timeoutFail({ duration: "15 seconds", onTimeout: () => new Error("the 2026-07-28 fixture did not start") })),
    (server) => server.kill
  )
