/**
 * Measure 3: recovery. A sample is the time from the crash to the first successful `echo` on a rebuilt
 * session.
 *
 * - this library: one resilient session (`McpSession.makeResilient`, liveness pings off so they add no
 *   noise) kept across samples; the call is made at once after the fault, with `replay: "Always"` (echo is
 *   read-only), and retried until it succeeds (it always succeeded at the first try in our runs);
 * - the raw SDK has no recovery: the baseline is the rebuild a user writes by hand, at its most direct: on
 *   `onclose` or on a failed call, a new transport and `Client`, `connect`, and the call again.
 *
 * @since 0.1.0
 */
import type { McpTransport } from "@effect-mcp/session"
import { McpSession, McpSessionPolicy } from "@effect-mcp/session"
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Env, Session, TransportKind } from "./Clients.js"
import { clientInfo, closableInMemory, connectRaw, echo, libraryTransport, pidOf } from "./Clients.js"
import { childPids, scriptedHttp, serverEverything } from "./Servers.js"
import type { Row } from "./Stats.js"
import { interleave, measured } from "./Stats.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Case = "inMemory" | "stdioKill" | "staleSession"

/**
 * @since 0.1.0
 * @category models
 */
export const allCases: ReadonlyArray<Case> = ["inMemory", "stdioKill", "staleSession"]

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly cases: ReadonlyArray<Case>
  readonly rounds: number
  /** Samples per round for the cheap cases (in-memory, stale session); stdio takes one per round. */
  readonly samplesPerRound: number
}

/**
 * Resilient-session options: liveness pings off (they would only add noise here), and `resetAfter` off: the
 * samples crash the session back to back, which the default policy would take for a crash loop and back off.
 */
const policy = McpSessionPolicy.make({ keepAlive: false, resetAfter: Duration.zero })

/**
 * The first successful `echo` after a fault, retried at once on failure (bounded: 50 tries).
 */
const libraryCall = (session: Session): Effect.Effect<number> =>
  Effect.gen(function*() {
    for (let attempt = 1; attempt <= 50; attempt++) {
      const exit = yield* Effect.exit(session.callTool(echo, { replay: "Always" }))
      if (exit._tag === "Success") return attempt
    }
    return yield* Effect.dieMessage("no successful call after 50 tries")
  })

/**
 * The hand-written rebuild of a raw SDK client: a new transport and `Client` when the old one closes or a
 * call on it fails, then the call again.
 *
 * @since 0.1.0
 * @category models
 */
export class RawRebuilder {
  current: Promise<{ readonly client: Client; readonly transport: Transport }>
  rebuilds = 0
  private closed = false

  constructor(readonly kind: TransportKind, readonly url?: string) {
    this.current = this.connect()
  }

  private connect(): Promise<{ readonly client: Client; readonly transport: Transport }> {
    const next: Promise<{ client: Client; transport: Transport }> = connectRaw(this.kind, this.url).then((c) => {
      c.client.onclose = () => {
        if (!this.closed && this.current === next) this.rebuild()
      }
      return c
    })
    return next
  }

  private rebuild(): void {
    this.rebuilds++
    const old = this.current
    this.current = this.connect()
    void old.then(({ client }) => client.close()).catch(() => {})
  }

  /** The first successful `echo`, rebuilding once if the call fails on a dead client. */
  async call(): Promise<number> {
    for (let attempt = 1; attempt <= 50; attempt++) {
      const used = this.current
      const { client } = await used
      try {
        await client.callTool(echo)
        return attempt
      } catch {
        if (this.current === used) this.rebuild()
      }
    }
    throw new Error("no successful call after 50 tries")
  }

  async close(): Promise<void> {
    this.closed = true
    const { client } = await this.current
    await client.close().catch(() => {})
  }
}

const rawRebuilder = (kind: TransportKind, url?: string): Effect.Effect<RawRebuilder, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const rebuilder = new RawRebuilder(kind, url)
      await rebuilder.current
      return rebuilder
    }),
    (r) => Effect.promise(() => r.close()).pipe(Effect.timeoutOption("5 seconds"))
  )

const resilient = <R>(transport: McpTransport.McpTransport<R>) =>
  McpSession.makeResilient({ transport, clientInfo, requestTimeout: 60_000 }, policy).pipe(
    Effect.map(({ session }) => session),
    Effect.orDie
  )

const sampleTimes = <E, R>(count: number, sample: Effect.Effect<number, E, R>) =>
  Effect.gen(function*() {
    const out: Array<number> = []
    for (let i = 0; i < count; i++) out.push(yield* sample)
    return out
  })

const measureCase = (c: Case, options: Options): Effect.Effect<Row, Error, Scope.Scope | Env> =>
  Effect.gen(function*() {
    switch (c) {
      case "inMemory": {
        const { close, transport } = closableInMemory()
        const session = yield* resilient(transport)
        const raw = yield* rawRebuilder("in-memory")
        const result = yield* interleave({
          rounds: options.rounds,
          warmup: 1,
          library: sampleTimes(
            options.samplesPerRound,
            Effect.gen(function*() {
              const start = performance.now()
              yield* close
              yield* libraryCall(session)
              return performance.now() - start
            })
          ),
          raw: sampleTimes(
            options.samplesPerRound,
            Effect.promise(async () => {
              const start = performance.now()
              await (await raw.current).transport.close()
              await raw.call()
              return performance.now() - start
            })
          )
        })
        return {
          group: "recovery",
          measure: "peer closed the transport → first successful call",
          transport: "in-memory",
          unit: "ms",
          library: measured(result.library),
          raw: measured(result.raw),
          note: "library: resilient session rebuilds by itself · raw SDK: rebuilt by hand on `onclose` (new transport, Client, connect)"
        } satisfies Row
      }
      case "stdioKill": {
        const session = yield* resilient(libraryTransport("stdio"))
        const raw = yield* rawRebuilder("stdio")
        const rawPid = () => raw.current.then(({ transport }) => pidOf(transport))
        const result = yield* interleave({
          rounds: options.rounds,
          warmup: 1,
          library: Effect.gen(function*() {
            const other = yield* Effect.promise(rawPid)
            const pids = childPids(serverEverything).filter((p) => p !== other)
            if (pids.length !== 1) return yield* Effect.fail(new Error(`expected one library child, found ${pids.length}`))
            const start = performance.now()
            process.kill(pids[0]!, "SIGKILL")
            yield* libraryCall(session)
            return [performance.now() - start]
          }),
          raw: Effect.tryPromise({
            try: async () => {
              const pid = await rawPid()
              if (pid === null) throw new Error("no raw child pid")
              const start = performance.now()
              process.kill(pid, "SIGKILL")
              await raw.call()
              return [performance.now() - start]
            },
            catch: (error) => new Error(String(error))
          })
        })
        return {
          group: "recovery",
          measure: "child SIGKILLed → first successful call (respawn)",
          transport: "stdio",
          unit: "ms",
          library: measured(result.library),
          raw: measured(result.raw),
          note: "both respawn server-everything (node start-up dominates) · raw SDK: rebuilt by hand on `onclose`"
        } satisfies Row
      }
      case "staleSession": {
        const server = yield* scriptedHttp
        const session = yield* resilient(libraryTransport("streamable-http", server.url))
        const raw = yield* rawRebuilder("streamable-http", server.url)
        const result = yield* interleave({
          rounds: options.rounds,
          warmup: 1,
          library: sampleTimes(
            options.samplesPerRound,
            Effect.gen(function*() {
              server.forgetSessions()
              const start = performance.now()
              yield* libraryCall(session)
              return performance.now() - start
            })
          ),
          raw: sampleTimes(
            options.samplesPerRound,
            Effect.promise(async () => {
              server.forgetSessions()
              const start = performance.now()
              await raw.call()
              return performance.now() - start
            })
          )
        })
        return {
          group: "recovery",
          measure: "stale session (server restarted) → first successful call",
          transport: "streamable-http",
          unit: "ms",
          library: measured(result.library),
          raw: measured(result.raw),
          note: "library: SessionExpired (not delivered) → new session → call replayed · raw SDK: call fails, rebuilt by hand, call again"
        } satisfies Row
      }
    }
  })

/**
 * @since 0.1.0
 * @category constructors
 */
export const run = (options: Options): Effect.Effect<Array<Row>, Error, Env> =>
  Effect.forEach(options.cases, (c) => Effect.scoped(measureCase(c, options)))
