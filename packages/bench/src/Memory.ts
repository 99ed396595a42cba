/**
 * Measure 4: memory.
 *
 * - pooled: `n` idle, initialized sessions held at once (in-memory transport, each with its own echo
 *   `McpServer` in the same process, on both sides); a sample is (heap or RSS after − before) / n, after
 *   forced GC;
 * - cycles: one session crashed and rebuilt `n` times (the library's resilient session rebuilds by itself;
 *   the raw SDK client is rebuilt by hand); a sample is the growth of the heap (after forced GC), of the
 *   open handles (`process.getActiveResourcesInfo()`) and of the child processes between the end of a
 *   warm-up and the end of the cycles, and again after closing everything against before opening it; and
 *   how many SDK transports of dead generations are still reachable after forced GC.
 *
 * `runInChild` runs a sample in a fresh Node process, so that no other measure's garbage or caches blur it.
 *
 * @since 0.1.0
 */
import { McpSession, McpSessionPolicy, McpTransport } from "@effect-mcp/session"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as Child from "./Child.js"
import type { Env } from "./Clients.js"
import { clientInfo, closableInMemory, echo, libraryTransport, pidOf, rawClient } from "./Clients.js"
import { RawRebuilder } from "./Recovery.js"
import { childPids, echoServer, serverEverything } from "./Servers.js"
import type { Row } from "./Stats.js"
import { interleave, measured } from "./Stats.js"

/**
 * `global.gc` when Node runs with `--expose-gc`, else the same function obtained through V8's flags.
 *
 * @since 0.1.0
 * @category combinators
 */
export const gc: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed !== undefined) return exposed
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
})()

const settle = (millis: number) =>
  Effect.promise(async () => {
    await new Promise((resolve) => setTimeout(resolve, millis))
    for (let i = 0; i < 3; i++) {
      gc()
      await new Promise((resolve) => setImmediate(resolve))
    }
  })

/**
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  /** When it was asked for, before the wait and the collections. */
  readonly takenAt: number
  readonly heapUsed: number
  readonly rss: number
  readonly handles: ReadonlyArray<string>
  readonly children: number
}

const snapshot = (millis: number): Effect.Effect<Snapshot> =>
  Effect.gen(function*() {
    const takenAt = performance.now()
    yield* settle(millis)
    const memory = process.memoryUsage()
    return {
      takenAt,
      heapUsed: memory.heapUsed,
      rss: memory.rss,
      handles: process.getActiveResourcesInfo(),
      children: childPids().length
    }
  })

/** Handle types whose count differs between two snapshots, e.g. `Timeout +2`. */
const handleDiff = (before: ReadonlyArray<string>, after: ReadonlyArray<string>): string => {
  const count = (list: ReadonlyArray<string>) => {
    const m = new Map<string, number>()
    for (const h of list) m.set(h, (m.get(h) ?? 0) + 1)
    return m
  }
  const b = count(before)
  const a = count(after)
  const parts: Array<string> = []
  for (const key of new Set([...b.keys(), ...a.keys()])) {
    const d = (a.get(key) ?? 0) - (b.get(key) ?? 0)
    if (d !== 0) parts.push(`${key} ${d > 0 ? "+" : ""}${d}`)
  }
  return parts.length === 0 ? "none" : parts.join(", ")
}

// ---------------------------------------------------------------------------------------------------------
// Pooled idle sessions
// ---------------------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export type PooledSide = "library" | "resilient" | "raw"

/**
 * @since 0.1.0
 * @category models
 */
export interface PooledResult {
  /** KiB per session. */
  readonly heap: number
  /** KiB per session. */
  readonly rss: number
}

/**
 * Opens `n` in-memory sessions of one side, measures, closes them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const pooled = (side: PooledSide, n: number): Effect.Effect<PooledResult, never, Env> =>
  Effect.gen(function*() {
    const open: Effect.Effect<unknown, never, Scope.Scope | Env> = side === "raw"
      ? rawClient("in-memory")
      : side === "library"
      ? McpSession.make({ transport: McpTransport.inMemory(echoServer), clientInfo }).pipe(Effect.orDie)
      : McpSession.makeResilient({ transport: McpTransport.inMemory(echoServer), clientInfo }).pipe(Effect.orDie)
    // one session opened and closed first, so that what loads lazily is loaded before the baseline
    yield* Effect.scoped(open)
    const before = yield* snapshot(100)
    const scope = yield* Scope.make()
    const held = yield* Effect.forEach(Array.from({ length: n }), () => Scope.extend(open, scope), { concurrency: 8 })
    const after = yield* snapshot(200)
    yield* Scope.close(scope, Exit.void)
    // keep the sessions reachable until the snapshot is taken
    if (held.length !== n) return yield* Effect.dieMessage("sessions lost")
    return { heap: (after.heapUsed - before.heapUsed) / n / 1024, rss: (after.rss - before.rss) / n / 1024 }
  })

// ---------------------------------------------------------------------------------------------------------
// Crash/rebuild cycles
// ---------------------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface CyclesResult {
  readonly cycles: number
  /** Mean milliseconds per crash + rebuild + successful call. */
  readonly millisPerCycle: number
  /** KiB of heap between the end of the warm-up and the end of the cycles. */
  readonly heapGrowth: number
  /**
   * KiB of heap over the second half of the cycles alone. A leak grows it as much as the first half; the code
   * V8 compiles as the paths warm up mostly does not.
   */
  readonly lateHeapGrowth: number
  readonly handlesGrowth: number
  readonly handlesGrowthDetail: string
  readonly childrenGrowth: number
  /**
   * SDK transports of earlier generations (each crash ends one) still reachable at the end of the cycles,
   * after forced GC. A session that kept its dead generations alive would leak one per cycle, whatever the
   * heap figure says: that figure also holds the code V8 compiles as these paths warm up.
   */
  readonly retained: number
  /** After closing everything, against before opening anything. */
  readonly afterClose: {
    readonly heap: number
    readonly handles: number
    readonly handlesDetail: string
    readonly children: number
  }
}

/**
 * Liveness pings off; `resetAfter` off: the cycles crash the session right after each rebuild, which the
 * default policy would rightly take for a crash loop (backing off, then giving up).
 */
const policy = McpSessionPolicy.make({ keepAlive: false, resetAfter: Duration.zero })

/** The only child process of ours running server-everything, once the last one killed has been reaped. */
const soleChild = Effect.gen(function*() {
  for (let i = 0; i < 200; i++) {
    const pids = childPids(serverEverything)
    if (pids.length === 1) return pids[0]!
    yield* Effect.sleep("10 millis")
  }
  return yield* Effect.dieMessage("expected exactly one server-everything child")
})

/**
 * Counts the SDK transports opened, and those the garbage collector has reclaimed.
 */
const makeTracker = () => {
  let opened = 0
  let collected = 0
  const seen = new WeakSet<object>()
  const registry = new FinalizationRegistry<void>(() => {
    collected++
  })
  return {
    track: (transport: object): void => {
      if (seen.has(transport)) return
      seen.add(transport)
      opened++
      registry.register(transport, undefined)
    },
    /** Still reachable after forced GC, the current one included (finalizers run after GC, in their own tasks). */
    reachable: Effect.gen(function*() {
      for (let i = 0; i < 10 && opened - collected > 1; i++) yield* settle(20)
      return opened - collected
    })
  }
}

/** `transport`, with each opened connection handed to `track`. */
const tracked = <R>(transport: McpTransport.McpTransport<R>, track: (transport: object) => void) =>
  McpTransport.make<R>({
    description: transport.description,
    open: (control) => Effect.tap(transport.open(control), (connection) => Effect.sync(() => track(connection)))
  })

/**
 * Crashes and rebuilds one session `cycles` times (after `warmup` cycles), each cycle ending with a
 * successful `echo` on the rebuilt session.
 *
 * @since 0.1.0
 * @category constructors
 */
export const cycles = (
  side: "library" | "raw",
  kind: "in-memory" | "stdio",
  count: number,
  warmup: number
): Effect.Effect<CyclesResult, never, Env> =>
  Effect.gen(function*() {
    const tracker = makeTracker()
    const setup = (scope: Scope.Scope, track: (transport: object) => void) =>
      Effect.gen(function*() {
        if (side === "library") {
          const closable = kind === "in-memory" ? closableInMemory() : undefined
          const transport = tracked(closable?.transport ?? libraryTransport("stdio"), track)
          const { session } = yield* McpSession.makeResilient({ transport, clientInfo }, policy).pipe(
            Effect.orDie,
            Scope.extend(scope)
          )
          const crash = closable !== undefined
            ? closable.close
            : Effect.flatMap(soleChild, (pid) => Effect.sync(() => process.kill(pid, "SIGKILL")))
          return Effect.gen(function*() {
            yield* crash
            for (let attempt = 1;; attempt++) {
              const exit = yield* Effect.exit(session.callTool(echo, { replay: "Always" }))
              if (exit._tag === "Success") return
              if (attempt >= 50) return yield* Effect.dieMessage("no successful call after 50 tries")
            }
          })
        } else {
          const raw = new RawRebuilder(kind)
          yield* Effect.promise(() => raw.current)
          yield* Scope.addFinalizer(scope, Effect.promise(() => raw.close()).pipe(Effect.timeoutOption("5 seconds")))
          return Effect.promise(async () => {
            const { transport } = await raw.current
            track(transport)
            if (kind === "in-memory") await transport.close()
            else process.kill(pidOf(transport)!, "SIGKILL")
            await raw.call()
            track((await raw.current).transport)
          })
        }
      })
    // a first session opened and closed, so that what loads lazily is loaded before the baseline
    const first = yield* Scope.make()
    yield* Effect.flatMap(setup(first, () => {}), (cycle) => Effect.zipRight(cycle, cycle))
    yield* Scope.close(first, Exit.void)
    const start = yield* snapshot(100)
    const scope = yield* Scope.make()
    const cycle = yield* setup(scope, tracker.track)
    for (let i = 0; i < warmup; i++) yield* cycle
    const baseline = yield* snapshot(200)
    const began = performance.now()
    const half = Math.floor(count / 2)
    for (let i = 0; i < half; i++) yield* cycle
    const middle = yield* snapshot(200)
    const resumed = performance.now()
    for (let i = half; i < count; i++) yield* cycle
    const millisPerCycle = (middle.takenAt - began + performance.now() - resumed) / count
    const end = yield* snapshot(200)
    const retained = (yield* tracker.reachable) - 1
    yield* Scope.close(scope, Exit.void)
    const closed = yield* snapshot(300)
    return {
      cycles: count,
      millisPerCycle,
      heapGrowth: (end.heapUsed - baseline.heapUsed) / 1024,
      lateHeapGrowth: (end.heapUsed - middle.heapUsed) / 1024,
      handlesGrowth: end.handles.length - baseline.handles.length,
      handlesGrowthDetail: handleDiff(baseline.handles, end.handles),
      childrenGrowth: end.children - baseline.children,
      retained,
      afterClose: {
        heap: (closed.heapUsed - start.heapUsed) / 1024,
        handles: closed.handles.length - start.handles.length,
        handlesDetail: handleDiff(start.handles, closed.handles),
        children: closed.children - start.children
      }
    }
  })

// ---------------------------------------------------------------------------------------------------------
// In a child process
// ---------------------------------------------------------------------------------------------------------

/**
 * What a child process measures.
 *
 * @since 0.1.0
 * @category models
 */
export type Spec =
  | { readonly _tag: "pooled"; readonly side: PooledSide; readonly n: number }
  | {
    readonly _tag: "cycles"
    readonly side: "library" | "raw"
    readonly kind: "in-memory" | "stdio"
    readonly count: number
    readonly warmup: number
  }

/**
 * Runs one spec in this process.
 *
 * @since 0.1.0
 * @category constructors
 */
export const runSpec = (spec: Spec): Effect.Effect<PooledResult | CyclesResult, never, Env> =>
  spec._tag === "pooled" ? pooled(spec.side, spec.n) : cycles(spec.side, spec.kind, spec.count, spec.warmup)

/**
 * Runs one spec in a fresh `node --expose-gc --import tsx` process (bounded by `timeout`), and returns
 * what it printed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const runInChild = <A extends PooledResult | CyclesResult>(
  spec: Spec,
  timeoutMillis = 300_000
): Effect.Effect<A, Error> => Child.run<A>("memoryChild.ts", JSON.stringify(spec), `memory sample ${JSON.stringify(spec)}`, timeoutMillis)

// ---------------------------------------------------------------------------------------------------------
// The rows
// ---------------------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Sessions held at once in the pooled measure. */
  readonly sessions: number
  /** Rounds of the pooled measure (each side of each round in a fresh process). */
  readonly rounds: number
  /** Crash/rebuild cycles over in-memory, and over stdio (0: skip stdio). */
  readonly cycles: number
  readonly stdioCycles: number
  /** Run each sample in a fresh process (the bench) or in this one (the smoke test). */
  readonly isolate: boolean
}

const fmtKiB = (k: number) => `${k >= 0 ? "+" : ""}${k.toFixed(0)} KiB`

/**
 * @since 0.1.0
 * @category constructors
 */
export const run = (options: Options): Effect.Effect<Array<Row>, Error, Env> =>
  Effect.gen(function*() {
    const sample = <A extends PooledResult | CyclesResult>(spec: Spec): Effect.Effect<A, Error, Env> =>
      options.isolate ? runInChild<A>(spec) : (runSpec(spec) as Effect.Effect<A, never, Env>)
    const rows: Array<Row> = []

    const pooledOf = (side: PooledSide) => sample<PooledResult>({ _tag: "pooled", side, n: options.sessions })
    const library: Array<PooledResult> = []
    const resilientResults: Array<PooledResult> = []
    const raw: Array<PooledResult> = []
    yield* interleave({
      rounds: options.rounds,
      library: Effect.gen(function*() {
        library.push(yield* pooledOf("library"))
        resilientResults.push(yield* pooledOf("resilient"))
        return []
      }),
      raw: Effect.map(pooledOf("raw"), (r) => {
        raw.push(r)
        return []
      })
    })
    const n = options.sessions.toLocaleString("en-US")
    for (const [label, results] of [["McpSession.make", library], ["makeResilient", resilientResults]] as const) {
      for (const field of ["heap", "rss"] as const) {
        rows.push({
          group: "memory",
          measure: `${field === "heap" ? "heap" : "RSS"} per idle session, ${n} held (${label})`,
          transport: "in-memory",
          unit: "KiB",
          library: measured(results.map((r) => r[field])),
          raw: measured(raw.map((r) => r[field])),
          note: "both sides include the in-process echo McpServer each session talks to" +
            (label === "makeResilient" ? "; resilient sessions with the default policy (liveness pings on)" : "")
        })
      }
    }

    const cycleRows = (kind: "in-memory" | "stdio", count: number) =>
      Effect.gen(function*() {
        // the first cycles compile the crash and rebuild paths, which the heap counts: at least 10 before the baseline
        const warmup = Math.max(10, Math.min(100, Math.floor(count / 10)))
        const spec = (side: "library" | "raw"): Spec => ({ _tag: "cycles", side, kind, count, warmup })
        const lib = yield* sample<CyclesResult>(spec("library"))
        const rawResult = yield* sample<CyclesResult>(spec("raw"))
        const label = `after ${count.toLocaleString("en-US")} crash/rebuild cycles`
        const close = (r: CyclesResult) =>
          `after close vs before open: heap ${fmtKiB(r.afterClose.heap)}, handles ${r.afterClose.handles} (${r.afterClose.handlesDetail}), children ${r.afterClose.children}`
        // "flat": no dead generation reachable, no handle or child more, and the heap of the second half of the
        // cycles under 1 MiB, or under 0.5 KiB per cycle of that half for long runs. The second half, because
        // the code V8 compiles while the crash and rebuild paths warm up lands in the heap too, mostly early and
        // by amounts that vary from run to run (0.6–2.6 MiB over 20 stdio cycles): a leak grows both halves.
        const verdict = (r: CyclesResult) =>
          r.retained > 0
            ? `RETAINS ${r.retained} dead transports`
            : r.handlesGrowth > 0 || r.childrenGrowth > 0 ||
                r.lateHeapGrowth >= Math.max(1024, 0.5 * (r.cycles - Math.floor(r.cycles / 2)))
            ? `GROWS (${(r.lateHeapGrowth / (r.cycles - Math.floor(r.cycles / 2))).toFixed(1)} KiB per cycle over the second half)`
            : "flat"
        const note = `verdict: library ${verdict(lib)}, raw ${verdict(rawResult)} · ` +
          `heap over the second half: ${fmtKiB(lib.lateHeapGrowth)} (library), ${fmtKiB(rawResult.lateHeapGrowth)} (raw) · ` +
          `dead transports still reachable after GC: ${lib.retained} of ${warmup + count} (library), ${rawResult.retained} of ${warmup + count} (raw) · ` +
          `${lib.millisPerCycle.toFixed(2)} ms/cycle (library) vs ${rawResult.millisPerCycle.toFixed(2)} ms/cycle (raw, rebuilt by hand) · ` +
          `library ${close(lib)} · raw ${close(rawResult)}`
        rows.push(
          {
            group: "memory",
            measure: `heap growth ${label}`,
            transport: kind,
            unit: "KiB",
            library: measured([lib.heapGrowth]),
            raw: measured([rawResult.heapGrowth]),
            note
          },
          {
            group: "memory",
            measure: `open handles growth ${label}`,
            transport: kind,
            unit: "count",
            library: measured([lib.handlesGrowth]),
            raw: measured([rawResult.handlesGrowth]),
            note: `library: ${lib.handlesGrowthDetail} · raw: ${rawResult.handlesGrowthDetail}`
          },
          {
            group: "memory",
            measure: `child processes growth ${label}`,
            transport: kind,
            unit: "count",
            library: measured([lib.childrenGrowth]),
            raw: measured([rawResult.childrenGrowth])
          }
        )
      })
    yield* cycleRows("in-memory", options.cycles)
    if (options.stdioCycles > 0) yield* cycleRows("stdio", options.stdioCycles)
    return rows
  })
