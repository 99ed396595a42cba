/**
 * Measure 2: crash detection. A call is pending when a fault of `FAULTS.md` strikes; a sample is the time
 * from the fault to the moment the caller sees the call fail. Both sides wait at most `bound` ms after the
 * fault: a side still waiting then is recorded as hung (it would wait for its request timeout).
 *
 * The fault's time is taken where it happens: just before the `kill` for a server process, in the
 * scripted server (same process, same clock) just before it answers 403 / 400, resets the socket or cuts
 * the SSE response.
 *
 * @since 0.1.0
 */
import { McpError } from "@effect-mcp/session"
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { PerformanceObserver } from "node:perf_hooks"
import type * as Scope from "effect/Scope"
import * as Child from "./Child.js"
import type { Env, Session, TransportKind } from "./Clients.js"
import { closeRaw, connectRaw, echo, librarySession, pidOf, rawEcho } from "./Clients.js"
import type { ScriptedServer } from "./Servers.js"
import type { DeathWatch } from "./Servers.js"
import { childPids, scriptedHttp, serverEverything, startEverything, watchChild, watchDeath } from "./Servers.js"
import type { Row } from "./Stats.js"
import { formatNumber, interleave, measured, median } from "./Stats.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Fault = "httpKill" | "sseKill" | "sseCut" | "status403" | "reset" | "staleSession" | "stdioKill"

/**
 * @since 0.1.0
 * @category models
 */
export const allFaults: ReadonlyArray<Fault> = [
  "httpKill",
  "sseKill",
  "stdioKill",
  "sseCut",
  "reset",
  "status403",
  "staleSession"
]

/**
 * The faults that kill a server process: the ones `runFresh` measures again in a fresh process.
 *
 * @since 0.1.0
 * @category models
 */
export const killFaults: ReadonlyArray<Fault> = ["httpKill", "sseKill", "stdioKill"]

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly faults: ReadonlyArray<Fault>
  readonly rounds: number
  /** How long after the fault a side may take before it counts as hung (ms). */
  readonly bound: number
  /**
   * How long the call has been under way when a server is killed (ms). Over a second, as for a session that
   * has been in use: a Streamable HTTP session's standalone GET stream is then reopened at once when cut (one
   * younger than a second that has carried nothing waits), so both of its streams react to the death.
   */
  readonly killAfter: number
}

/** One sample: the latency (`Infinity` when hung), what the caller got, and when the OS told of the fault. */
interface Outcome {
  readonly millis: number
  readonly what: string
  /** From the fault to the OS's report of it (a plain connection to the server ended), when watched. */
  readonly noticeMillis?: number | undefined
  /** `performance.now()` at the fault. */
  readonly faultAt?: number | undefined
}

/**
 * Adds the OS's notice to an outcome, waiting a little for it (it may be handled after the caller's own
 * failure in the same turn of the event loop). A notice that never came is left out.
 */
const withNotice = (outcome: Outcome, faultAt: number, watch: DeathWatch | undefined): Effect.Effect<Outcome> =>
  Effect.gen(function*() {
    const timed = { ...outcome, faultAt }
    if (watch === undefined) return timed
    for (let waited = 0; watch.endedAt() === undefined && waited < 200; waited += 5) yield* Effect.sleep("5 millis")
    const endedAt = watch.endedAt()
    return endedAt === undefined ? timed : { ...timed, noticeMillis: endedAt - faultAt }
  })

const describeLibrary = (error: unknown): string => {
  if (McpError.isTransportCrashed(error)) {
    const reason = error.reason
    // a report without the exit status: the child closed stdout and lived on, or (off Linux) stdout ended first
    const status = reason._tag !== "ProcessExited"
      ? ""
      : ` (${reason.signal ?? (reason.code !== null ? `code ${reason.code}` : "no exit status")})`
    return `TransportCrashed { ${reason._tag}${status}, ${error.delivery} }`
  }
  if (McpError.isMcpError(error)) return error._tag
  return `untyped: ${String(error)}`
}

const describeRaw = (error: unknown): string => {
  const text = (error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error))
    .replace("Streamable HTTP error: ", "")
  return text.length > 110 ? `${text.slice(0, 107)}...` : text
}

/** The long call server-everything answers with progress, so the test knows the call is underway. */
const longCall = { name: "trigger-long-running-operation", arguments: { duration: 30, steps: 300 } }

// ---------------------------------------------------------------------------------------------------------
// One sample of each side
// ---------------------------------------------------------------------------------------------------------

/**
 * Opens a session, starts `call`, runs `fault` (which returns the time of the fault) and waits for the
 * call's failure, at most `bound` ms after the fault.
 */
const librarySample = <R>(
  bound: number,
  open: Effect.Effect<Session, Error, Scope.Scope | R>,
  call: (session: Session, underway: () => void) => Effect.Effect<unknown, unknown>,
  fault: (underway: Promise<void>) => Effect.Effect<number, Error, Scope.Scope | R>,
  watch: () => DeathWatch | undefined = () => undefined
): Effect.Effect<Outcome, Error, R> =>
  Effect.scoped(Effect.gen(function*() {
    const session = yield* open
    let settledAt = 0
    let markUnderway!: () => void
    const underway = new Promise<void>((resolve) => (markUnderway = resolve))
    const fiber = yield* call(session, () => markUnderway()).pipe(
      Effect.exit,
      Effect.tap(() => void (settledAt = performance.now())),
      Effect.fork
    )
    const faultAt = yield* fault(underway)
    const left = Math.max(0, bound - (performance.now() - faultAt))
    const exit = yield* Fiber.join(fiber).pipe(Effect.timeoutOption(left))
    if (exit._tag === "None") yield* Fiber.interrupt(fiber)
    const outcome = (): Outcome => {
      if (exit._tag === "None") return { millis: Number.POSITIVE_INFINITY, what: `no failure within ${bound} ms` }
      if (Exit.isSuccess(exit.value)) return { millis: settledAt - faultAt, what: "succeeded (no fault seen)" }
      const failure = exit.value.cause._tag === "Fail" ? exit.value.cause.error : exit.value.cause
      return { millis: settledAt - faultAt, what: describeLibrary(failure) }
    }
    return yield* withNotice(outcome(), faultAt, watch())
  }))

const rawSample = <R>(
  bound: number,
  open: Effect.Effect<Client, Error, Scope.Scope | R>,
  call: (client: Client, underway: () => void) => Promise<unknown>,
  fault: (underway: Promise<void>) => Effect.Effect<number, Error, Scope.Scope | R>,
  watch: () => DeathWatch | undefined = () => undefined
): Effect.Effect<Outcome, Error, R> =>
  Effect.scoped(Effect.gen(function*() {
    const client = yield* open
    let markUnderway!: () => void
    const underway = new Promise<void>((resolve) => (markUnderway = resolve))
    const settled = call(client, () => markUnderway()).then(
      () => ({ at: performance.now(), error: undefined as unknown, ok: true }),
      (error: unknown) => ({ at: performance.now(), error, ok: false })
    )
    const faultAt = yield* fault(underway)
    const left = Math.max(0, bound - (performance.now() - faultAt))
    const result = yield* Effect.promise(() => settled).pipe(Effect.timeoutOption(left))
    const outcome = (): Outcome => {
      if (result._tag === "None") {
        return {
          millis: Number.POSITIVE_INFINITY,
          what: `no failure within ${bound} ms (the SDK waits for its request timeout)`
        }
      }
      if (result.value.ok) return { millis: result.value.at - faultAt, what: "succeeded (no fault seen)" }
      return { millis: result.value.at - faultAt, what: describeRaw(result.value.error) }
    }
    return yield* withNotice(outcome(), faultAt, watch())
  }))

/** A raw client in the scope; closing it rejects whatever still waits. */
const openRaw = (kind: TransportKind, url?: string, watchPort?: number) =>
  Effect.acquireRelease(
    Effect.promise(() => connectRaw(kind, url, watchPort)),
    ({ client }) => closeRaw(client)
  )

const waitUnderway = (underway: Promise<void>) =>
  Effect.promise(() => underway).pipe(
    Effect.timeoutFail({ duration: "15 seconds", onTimeout: () => new Error("the call never got underway") })
  )

/** Waits until the call is under way, then `killAfter` ms more: the moment a kill strikes. */
const awaitKillTime = (underway: Promise<void>, killAfter: number) =>
  Effect.zipRight(waitUnderway(underway), Effect.sleep(killAfter))

// ---------------------------------------------------------------------------------------------------------
// The faults
// ---------------------------------------------------------------------------------------------------------

interface Case {
  readonly measure: string
  readonly transport: TransportKind
  readonly library: Effect.Effect<Outcome, Error, Env>
  readonly raw: Effect.Effect<Outcome, Error, Env>
}

/** server-everything killed (SIGKILL) while a long call streams progress. */
const killCase = (mode: "streamableHttp" | "sse", bound: number, killAfter: number): Case => {
  const kind: TransportKind = mode === "sse" ? "sse" : "streamable-http"
  return {
    measure: "server process SIGKILLed mid-call",
    transport: kind,
    library: Effect.gen(function*() {
      let server: { readonly url: string; readonly kill: () => Effect.Effect<void> } | undefined
      let watch: DeathWatch | undefined
      return yield* librarySample(
        bound,
        startEverything(mode).pipe(
          Effect.tap((s) => void (server = { url: s.url, kill: () => s.kill("SIGKILL") })),
          // the watch connects first, so the dying server closes its socket first
          Effect.tap((s) => Effect.map(watchDeath(s.port), (w) => void (watch = w))),
          Effect.flatMap((s) => librarySession(kind, s.url, { requestTimeout: 60_000 }))
        ),
        (session, underway) => session.callTool(longCall, { onProgress: underway }),
        (underway) =>
          Effect.gen(function*() {
            yield* awaitKillTime(underway, killAfter)
            const at = performance.now()
            yield* server!.kill()
            return at
          }),
        () => watch
      )
    }),
    raw: Effect.gen(function*() {
      let server: { readonly kill: () => Effect.Effect<void> } | undefined
      let watch: DeathWatch | undefined
      return yield* rawSample(
        bound,
        startEverything(mode).pipe(
          Effect.tap((s) => void (server = { kill: () => s.kill("SIGKILL") })),
          Effect.tap((s) => Effect.map(watchDeath(s.port), (w) => void (watch = w))),
          Effect.flatMap((s) => openRaw(kind, s.url)),
          Effect.map(({ client }) => client)
        ),
        (client, underway) => client.callTool(longCall, undefined, { onprogress: underway, timeout: 60_000 }),
        (underway) =>
          Effect.gen(function*() {
            yield* awaitKillTime(underway, killAfter)
            const at = performance.now()
            yield* server!.kill()
            return at
          }),
        () => watch
      )
    })
  }
}

/** The server-everything stdio child SIGKILLed while a long call streams progress. */
const stdioKillCase = (bound: number, killAfter: number): Case => ({
  measure: "child process SIGKILLed mid-call",
  transport: "stdio",
  library: Effect.gen(function*() {
    let pid: number | undefined
    let watch: DeathWatch | undefined
    return yield* librarySample(
      bound,
      Effect.gen(function*() {
        const child = yield* watchChild
        watch = child.watch
        const before = new Set(childPids(serverEverything))
        const session = yield* librarySession("stdio", undefined, { requestTimeout: 60_000, watchPort: child.port })
        pid = childPids(serverEverything).find((p) => !before.has(p))
        if (pid === undefined) return yield* Effect.fail(new Error("no stdio child found"))
        return session
      }),
      (session, underway) => session.callTool(longCall, { onProgress: underway }),
      (underway) =>
        Effect.gen(function*() {
          yield* awaitKillTime(underway, killAfter)
          const at = performance.now()
          process.kill(pid!, "SIGKILL")
          return at
        }),
      () => watch
    )
  }),
  raw: Effect.gen(function*() {
    let pid: number | null = null
    let watch: DeathWatch | undefined
    return yield* rawSample(
      bound,
      watchChild.pipe(
        Effect.tap((child) => void (watch = child.watch)),
        Effect.flatMap((child) => openRaw("stdio", undefined, child.port)),
        Effect.tap(({ transport }) => void (pid = pidOf(transport))),
        Effect.map(({ client }) => client)
      ),
      (client, underway) => client.callTool(longCall, undefined, { onprogress: underway, timeout: 60_000 }),
      (underway) =>
        Effect.gen(function*() {
          yield* awaitKillTime(underway, killAfter)
          if (pid === null) return yield* Effect.fail(new Error("no stdio child pid"))
          const at = performance.now()
          process.kill(pid, "SIGKILL")
          return at
        }),
      () => watch
    )
  })
})

/** A fault of the scripted Streamable HTTP server, applied when the `echo` call arrives. */
const scriptedCase = (
  server: ScriptedServer,
  measure: string,
  bound: number,
  prepare: () => void,
  fault: Effect.Effect<void>
): Case => {
  const applied = (underway: Promise<void>) =>
    Effect.gen(function*() {
      yield* Effect.promise(() => underway).pipe(
        Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the call never reached the server") })
      )
      yield* fault
      return server.faultAt()
    })
  return {
    measure,
    transport: "streamable-http",
    library: librarySample(
      bound,
      Effect.gen(function*() {
        server.setMode("answer")
        const session = yield* librarySession("streamable-http", server.url, { requestTimeout: 60_000 })
        yield* Effect.orDie(session.callTool(echo))
        prepare()
        return session
      }),
      (session, underway) => {
        void server.nextCall().then(underway)
        return session.callTool(echo)
      },
      applied
    ),
    raw: rawSample(
      bound,
      Effect.gen(function*() {
        server.setMode("answer")
        const { client } = yield* openRaw("streamable-http", server.url)
        yield* Effect.promise(() => rawEcho(client))
        prepare()
        return client
      }),
      (client, underway) => {
        void server.nextCall().then(underway)
        return client.callTool(echo, undefined, { timeout: 60_000 })
      },
      applied
    )
  }
}

const makeCase = (fault: Fault, options: Options, server: ScriptedServer): Case => {
  const bound = options.bound
  switch (fault) {
    case "httpKill":
      return killCase("streamableHttp", bound, options.killAfter)
    case "sseKill":
      return killCase("sse", bound, options.killAfter)
    case "stdioKill":
      return stdioKillCase(bound, options.killAfter)
    case "sseCut":
      // let the client receive the response headers and start reading before the socket drops
      return scriptedCase(
        server,
        "SSE response cut before the answer",
        bound,
        () => server.setMode("sseCut"),
        Effect.sleep("20 millis").pipe(Effect.andThen(Effect.sync(() => server.cut())))
      )
    case "reset":
      return scriptedCase(server, "connection reset while the POST is open", bound, () => server.setMode("reset"), Effect.void)
    case "status403":
      return scriptedCase(server, "POST answered 403", bound, () => server.setMode("status403"), Effect.void)
    case "staleSession":
      return scriptedCase(
        server,
        "stale session (server restarted: 400 No valid session ID)",
        bound,
        () => server.forgetSessions(),
        Effect.void
      )
  }
}

/**
 * The end of the measure of a row counted from the OS's notice (a fresh process's rows add ", in a fresh
 * process" after it).
 *
 * @since 0.1.0
 * @category constants
 */
export const fromNoticeSuffix = ": from the OS's notice"

/**
 * A sample counted from the OS's notice. The watch's thread can be scheduled a little after the client's own
 * thread saw the same death; a caller that failed before the notice was timed counts as 0.
 */
const fromNotice = (outcome: Outcome): number => Math.max(0, outcome.millis - outcome.noticeMillis!)

/**
 * The garbage collections of this process while the crash phase runs (start and end, `performance.now()`
 * time), so that a row can say how many samples had one inside their window.
 */
const watchCollections = Effect.acquireRelease(
  Effect.sync(() => {
    const spans: Array<readonly [number, number]> = []
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) spans.push([entry.startTime, entry.startTime + entry.duration])
    })
    observer.observe({ entryTypes: ["gc"] })
    return { spans, observer }
  }),
  ({ observer }) => Effect.sync(() => observer.disconnect())
)

/**
 * How many of the samples had a garbage collection inside the window from the notice to the failure, and
 * for how long in all.
 */
const collectedIn = (
  outcomes: ReadonlyArray<Outcome>,
  spans: ReadonlyArray<readonly [number, number]>
): string | undefined => {
  const windows = outcomes.flatMap((o) =>
    o.faultAt === undefined || o.noticeMillis === undefined || !Number.isFinite(o.millis)
      ? []
      : [[o.faultAt + o.noticeMillis, o.faultAt + o.millis] as const]
  )
  if (windows.length === 0) return undefined
  let hit = 0
  let total = 0
  for (const [from, to] of windows) {
    let inside = 0
    for (const [start, end] of spans) inside += Math.max(0, Math.min(end, to) - Math.max(start, from))
    if (inside > 0) hit++
    total += inside
  }
  return `${hit} of ${windows.length}${hit > 0 ? ` (${formatNumber(total)} ms in all)` : ""}`
}

/** The note's sentence on the collections that fell inside the samples' windows. */
const collectionsNote = (
  library: ReadonlyArray<Outcome>,
  raw: ReadonlyArray<Outcome>,
  spans: ReadonlyArray<readonly [number, number]>
): string => {
  const sides = [["library", collectedIn(library, spans)], ["raw SDK", collectedIn(raw, spans)]].flatMap((
    [side, text]
  ) => text === undefined ? [] : [`${text} ${side} samples`])
  return sides.length === 0
    ? ""
    : `; a garbage collection of this process fell between the notice and the failure in ${sides.join(" and ")}`
}

const summarizeWhat = (outcomes: ReadonlyArray<Outcome>): string => {
  const counts = new Map<string, number>()
  for (const o of outcomes) counts.set(o.what, (counts.get(o.what) ?? 0) + 1)
  return [...counts].map(([what, n]) => (counts.size === 1 ? what : `${what} (${n}×)`)).join("; ")
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const run = (options: Options): Effect.Effect<Array<Row>, Error, Env> =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* scriptedHttp
    const { spans } = yield* watchCollections
    const rows: Array<Row> = []
    for (const fault of options.faults) {
      const c = makeCase(fault, options, server)
      const library: Array<Outcome> = []
      const raw: Array<Outcome> = []
      yield* interleave({
        rounds: options.rounds,
        library: Effect.map(c.library, (o) => {
          library.push(o)
          return [o.millis]
        }),
        raw: Effect.map(c.raw, (o) => {
          raw.push(o)
          return [o.millis]
        })
      })
      rows.push({
        group: "crash",
        measure: c.measure,
        transport: c.transport,
        unit: "ms",
        library: measured(library.map((o) => o.millis), options.bound),
        raw: measured(raw.map((o) => o.millis), options.bound),
        note: `library: ${summarizeWhat(library)} · raw SDK: ${summarizeWhat(raw)}`
      })
      const noticed = (outcomes: ReadonlyArray<Outcome>) =>
        outcomes.flatMap((o) => (o.noticeMillis === undefined ? [] : [o]))
      if (noticed(library).length > 0 && noticed(raw).length > 0) {
        // the observer reports collections a little later, on a task of its own
        yield* Effect.sleep("50 millis")
        const notice = (outcomes: ReadonlyArray<Outcome>) =>
          `${formatNumber(median(noticed(outcomes).map((o) => o.noticeMillis!)))} ms`
        rows.push({
          group: "crash",
          measure: `${c.measure}${fromNoticeSuffix}`,
          transport: c.transport,
          unit: "ms",
          library: measured(noticed(library).map(fromNotice), options.bound),
          raw: measured(noticed(raw).map(fromNotice), options.bound),
          note: `the same samples, counted from the moment an idle TCP connection to the server ended (the OS ` +
            `closing the dead process's sockets${c.transport === "stdio" ? " and pipes" : ""}), a median ` +
            `${notice(library)} (library samples) and ${notice(raw)} (raw SDK samples) after the kill` +
            collectionsNote(noticed(library), noticed(raw), spans)
        })
      }
    }
    return rows
  }))

/**
 * The kill faults of `options`, measured in a fresh process that has run nothing else, rather than in the
 * bench's own process after the per-call phase: only their rows counted from the OS's notice, renamed
 * "…, in a fresh process". Bounded by `timeoutMillis`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const runFresh = (options: Options, timeoutMillis = 900_000): Effect.Effect<Array<Row>, Error> =>
  Effect.gen(function*() {
    const kills = options.faults.filter((fault) => killFaults.includes(fault))
    if (kills.length === 0) return []
    const rows = yield* Child.run<Array<Row>>(
      "crashChild.ts",
      JSON.stringify({ ...options, faults: kills }),
      "the crash measure in a fresh process",
      timeoutMillis
    )
    return rows.flatMap((row) => row.measure.endsWith(fromNoticeSuffix) ? [{ ...row, measure: `${row.measure}, in a fresh process` }] : [])
  })
