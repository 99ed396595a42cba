/**
 * Measure 6: the session pool, in memory. Here the "raw" side of a row is not the SDK: it is the same
 * resilient session used directly (`McpSession.makeResilient`), so the ratio is the pool's own cost.
 *
 * - pooled call: `echo` through `McpSessionPool.use` (a lease taken and let go per call, the session
 *   already built) against `callTool` on a resilient session held directly; a sample is one call (µs);
 * - pooled idle session: `n` sessions of the pool (one per identity, used once, idle within their time to
 *   live) against `n` resilient sessions held directly; a sample is (heap after − before) / n, after forced GC.
 *
 * @since 0.1.0
 */
import { McpServers, McpSession, McpSessionPolicy, McpSessionPool, McpTransport } from "@effect-mcp/session"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { Env } from "./Clients.js"
import { clientInfo, echo } from "./Clients.js"
import { gc } from "./Memory.js"
import { echoServer } from "./Servers.js"
import type { Row } from "./Stats.js"
import { interleave, measured } from "./Stats.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly rounds: number
  /** Sequential calls per round, per side. */
  readonly calls: number
  /** Idle sessions held at once in the memory measure. */
  readonly sessions: number
  readonly memoryRounds: number
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const full: Options = { rounds: 5, calls: 1000, sessions: 500, memoryRounds: 3 }

/**
 * @since 0.1.0
 * @category constructors
 */
export const quick: Options = { rounds: 2, calls: 200, sessions: 100, memoryRounds: 1 }

// the same policy on both sides: no liveness pings, so that idle means idle
const policy = McpSessionPolicy.make({ keepAlive: false })

const servers = McpServers.fromJson({ mcpServers: { echo: { command: "in-memory" } } }).pipe(Effect.orDie)

const makePool = Effect.flatMap(servers, (configured) =>
  McpSessionPool.make({
    servers: configured,
    transport: () => McpTransport.inMemory(echoServer),
    clientInfo,
    policy,
    idleTimeToLive: "1 hour",
    maxSessions: 100_000
  }))

const direct = McpSession.makeResilient({ transport: McpTransport.inMemory(echoServer), clientInfo }, policy).pipe(Effect.orDie)

const settle = (millis: number) =>
  Effect.promise(async () => {
    await new Promise((resolve) => setTimeout(resolve, millis))
    for (let i = 0; i < 3; i++) {
      gc()
      await new Promise((resolve) => setImmediate(resolve))
    }
    return process.memoryUsage().heapUsed
  })

const timedCalls = <E>(calls: number, call: Effect.Effect<unknown, E>) =>
  Effect.gen(function*() {
    const out: Array<number> = []
    for (let i = 0; i < calls; i++) {
      const start = performance.now()
      yield* call
      out.push((performance.now() - start) * 1000)
    }
    return out
  })

/** KiB of heap per idle session, `n` of them opened by `open` and held. */
const perSession = (n: number, open: (i: number) => Effect.Effect<unknown, never, Scope.Scope | Env>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    // one opened first, so that what loads lazily is loaded before the baseline
    yield* Scope.extend(open(-1), scope)
    const before = yield* settle(100)
    const held = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => Scope.extend(open(i), scope), {
      concurrency: 8
    })
    const after = yield* settle(200)
    yield* Scope.close(scope, Exit.void)
    if (held.length !== n) return yield* Effect.dieMessage("sessions lost")
    return (after - before) / n / 1024
  })

/**
 * @since 0.1.0
 * @category constructors
 */
export const run = (options: Options): Effect.Effect<Array<Row>, Error, Env> =>
  Effect.gen(function*() {
    const calls = yield* Effect.scoped(Effect.gen(function*() {
      const pool = yield* makePool
      const { session } = yield* direct
      const pooledCall = pool.use("echo", undefined, (s) => s.callTool(echo)).pipe(Effect.orDie)
      // both sides build the call's Effect per call, as a caller does (`use` builds it inside its function)
      const directCall = Effect.suspend(() => session.callTool(echo)).pipe(Effect.orDie)
      return yield* interleave({
        rounds: options.rounds,
        warmup: 1,
        library: timedCalls(options.calls, pooledCall),
        raw: timedCalls(options.calls, directCall)
      })
    }))

    const memory = { pooled: [] as Array<number>, direct: [] as Array<number> }
    for (let round = 0; round < options.memoryRounds; round++) {
      memory.pooled.push(
        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* makePool
          return yield* perSession(options.sessions, (i) =>
            Effect.flatMap(pool.identity({ headers: { Authorization: `Bearer user-${i}` } }), (identity) =>
              // used once and let go: idle in the pool, within its time to live
              pool.use("echo", identity, (s) => s.ping()).pipe(Effect.orDie)))
        }))
      )
      memory.direct.push(yield* perSession(options.sessions, () => direct))
    }

    return [
      {
        group: "overhead",
        measure: "pooled call: McpSessionPool.use + callTool (raw side: the resilient session's callTool)",
        transport: "in-memory",
        unit: "µs",
        library: measured(calls.library),
        raw: measured(calls.raw),
        note: "goal ≤ 1.05×; the raw side here is McpSession.makeResilient used directly, not the SDK"
      },
      {
        group: "memory",
        measure: `heap per pooled idle session, ${options.sessions} held (raw side: makeResilient held directly)`,
        transport: "in-memory",
        unit: "KiB",
        library: measured(memory.pooled),
        raw: measured(memory.direct),
        note: "both sides include the in-process echo McpServer each session talks to; keep-alive off on both"
      }
    ] satisfies Array<Row>
  })
