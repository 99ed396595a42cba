/**
 * Measure 1: per-call overhead. The `echo` tool over in-memory, stdio and Streamable HTTP, one session of
 * each side on the same server, interleaved rounds.
 *
 * - sequential: one call at a time; a sample is one call's latency (µs);
 * - in flight: `inFlight` calls started at once on one session; a sample is the whole batch (ms).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Env, TransportKind } from "./Clients.js"
import { echo, librarySession, rawClient, rawEcho } from "./Clients.js"
import { startEverything } from "./Servers.js"
import type { Row } from "./Stats.js"
import { interleave, measured } from "./Stats.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly transports: ReadonlyArray<Extract<TransportKind, "in-memory" | "stdio" | "streamable-http">>
  readonly rounds: number
  /** Sequential calls per round, per transport. */
  readonly calls: Readonly<Record<"in-memory" | "stdio" | "streamable-http", number>>
  /** Calls in flight at once in the concurrent measure. */
  readonly inFlight: number
  /** Rounds of the concurrent measure. */
  readonly inFlightRounds: number
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** Failed calls, if any (warm-up included): they are timed like the others, and said here. */
const failureNote = (failures: { readonly library: Map<string, number>; readonly raw: Map<string, number> }) => {
  const list = (m: Map<string, number>) => [...m].map(([what, n]) => `${n}× ${what}`).join(", ")
  const parts = [
    ...(failures.library.size > 0 ? [`library: failed calls (session reopened): ${list(failures.library)}`] : []),
    ...(failures.raw.size > 0 ? [`raw SDK: failed calls: ${list(failures.raw)}`] : [])
  ]
  return parts.length > 0 ? parts.join(" · ") : undefined
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const run = (options: Options): Effect.Effect<Array<Row>, Error, Env> =>
  Effect.gen(function*() {
    const rows: Array<Row> = []
    for (const kind of options.transports) {
      rows.push(...(yield* Effect.scoped(measure(kind, options))))
    }
    return rows
  })

const measure = (
  kind: Options["transports"][number],
  options: Options
): Effect.Effect<Array<Row>, Error, Scope.Scope | Env> =>
  Effect.gen(function*() {
    const url = kind === "streamable-http" ? (yield* startEverything("streamableHttp")).url : undefined
    let session = yield* librarySession(kind, url)
    const { client } = yield* rawClient(kind, url)
    const calls = options.calls[kind]
    // A failed call is counted, not fatal to the bench; a library session whose transport died is reopened.
    const failures = { library: new Map<string, number>(), raw: new Map<string, number>() }
    const fail = (side: Map<string, number>, what: string) => side.set(what, (side.get(what) ?? 0) + 1)
    const libraryEcho = Effect.catchAll(
      Effect.suspend(() => session.callTool(echo)),
      (error) => Effect.sync(() => fail(failures.library, error._tag === "TransportCrashed" ? `TransportCrashed { ${error.reason._tag} }` : error._tag))
    )
    const reopenIfDead = Effect.gen(function*() {
      const dead = yield* Effect.either(Effect.timeoutOption(session.await, "1 millis"))
      if (dead._tag === "Left") session = yield* librarySession(kind, url)
    })
    const rawCall = () =>
      rawEcho(client).catch((error: unknown) => void fail(failures.raw, error instanceof Error ? error.message.slice(0, 60) : String(error)))

    const sequential = yield* interleave({
      rounds: options.rounds,
      warmup: 1,
      library: Effect.gen(function*() {
        const out: Array<number> = []
        for (let i = 0; i < calls; i++) {
          const start = performance.now()
          yield* libraryEcho
          out.push((performance.now() - start) * 1000)
        }
        yield* reopenIfDead
        return out
      }),
      raw: Effect.promise(async () => {
        const out: Array<number> = []
        for (let i = 0; i < calls; i++) {
          const start = performance.now()
          await rawCall()
          out.push((performance.now() - start) * 1000)
        }
        return out
      })
    })
    const sequentialNote = failureNote(failures)
    failures.library.clear()
    failures.raw.clear()

    const batch = range(options.inFlight)
    const concurrent = yield* interleave({
      rounds: options.inFlightRounds,
      warmup: 1,
      library: Effect.gen(function*() {
        const start = performance.now()
        yield* Effect.forEach(batch, () => libraryEcho, { concurrency: "unbounded", discard: true })
        const millis = performance.now() - start
        yield* reopenIfDead
        return [millis]
      }),
      raw: Effect.promise(async () => {
        const start = performance.now()
        await Promise.all(batch.map(rawCall))
        return [performance.now() - start]
      })
    })
    const concurrentNote = failureNote(failures)

    return [
      {
        group: "overhead",
        measure: "echo, sequential (per call)",
        transport: kind,
        unit: "µs",
        library: measured(sequential.library),
        raw: measured(sequential.raw),
        note: sequentialNote
      },
      {
        group: "overhead",
        measure: `echo, ${options.inFlight.toLocaleString("en-US")} in flight on one session (whole batch)`,
        transport: kind,
        unit: "ms",
        library: measured(concurrent.library),
        raw: measured(concurrent.raw),
        note: concurrentNote
      }
    ] satisfies Array<Row>
  })
