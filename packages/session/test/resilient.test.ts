import { assert, describe, it } from "@effect/vitest"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import { McpError, McpMetrics, McpSession, McpSessionPolicy, McpTest, McpTransport } from "../src/index.js"
import { eventually, failureOf, realTick, scripted, tick, tracking } from "./utils.js"

const clientInfo = { name: "test-client", version: "1.0.0" }


const exitIsSuccess = <A, E>(exit: Exit.Exit<A, E>) => {
  assert.isTrue(Exit.isSuccess(exit), Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "")
  return (exit as Exit.Success<A, E>).value
}

const processExited = new McpError.ProcessExited({ code: 1, signal: null, stderrTail: "" })
const refused = new McpError.ConnectionFailed({ detail: "ECONNREFUSED", beforeSend: true })

const setup = (policy: Partial<Parameters<typeof McpSessionPolicy.make>[0]> = {}) =>
  Effect.gen(function*() {
    const server = yield* McpTest.server()
    const { faults, transport } = yield* McpTest.faulty(server.transport)
    const { lifecycle, session } = yield* McpSession.makeResilient(
      { transport, clientInfo },
      McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.spaced("1 second"), ...policy })
    )
    const seen: Array<McpSession.LifecycleEvent> = []
    yield* lifecycle.events.pipe(Stream.runForEach((e) => Effect.sync(() => void seen.push(e))), Effect.forkScoped)
    yield* tick
    return { server, faults, session, lifecycle, events: Effect.sync(() => seen.slice()) }
  })

/** Moves the TestClock `millis` ms on, asserting the `opens`-th opening happens then, not 1 ms before. */
const expectOpenAt = (faults: McpTest.Faults, millis: number, opens: number) =>
  Effect.gen(function*() {
    yield* TestClock.adjust(millis - 1)
    for (let i = 0; i < 20; i++) yield* tick
    assert.strictEqual(yield* faults.opens, opens - 1, `not before ${millis} ms`)
    yield* TestClock.adjust(1)
    yield* eventually(faults.opens, (n) => n === opens)
  })

/** Crashes the session with its next opening refused, and starts a ping that waits for the rebuild. */
const pingWhileReconnecting = (
  faults: McpTest.Faults,
  lifecycle: McpSession.Lifecycle["Type"],
  session: McpSession.McpSession.Service
) =>
  Effect.gen(function*() {
    yield* faults.failNextOpens(refused)
    yield* faults.crash(processExited)
    yield* eventually(lifecycle.state, (s) => s._tag === "Reconnecting")
    yield* eventually(faults.opens, (n) => n === 2)
    const waiting = yield* Effect.fork(session.ping())
    yield* tick
    return waiting
  })

const connectedAgain = (lifecycle: McpSession.Lifecycle["Type"], generation: number) =>
  eventually(lifecycle.state, (s) => s._tag === "Connected" && s.generation === generation)

describe("McpSession.layerResilient", () => {
  describe("rebuilding", () => {
    it.scoped("rebuilds after a crash; the next call succeeds on a new session without the caller doing anything", () =>
      Effect.gen(function*() {
        const { events, faults, lifecycle, server, session } = yield* setup()
        yield* session.callTool({ name: "echo", arguments: { message: "one" } })
        yield* faults.crash(processExited)
        yield* connectedAgain(lifecycle, 2)
        const result = yield* session.callTool({ name: "echo", arguments: { message: "two" } })
        assert.deepStrictEqual(result.content, [{ type: "text", text: "Echo: two" }])
        assert.strictEqual(yield* server.opened, 2)
        assert.strictEqual(yield* server.live, 1)
        const tags = (yield* events).map((e) => e._tag)
        // a subscription starts with the current state
        assert.deepStrictEqual(tags, ["Connected", "Crashed", "Rebuilt"])
        const crashed = (yield* events)[1] as Extract<McpSession.LifecycleEvent, { _tag: "Crashed" }>
        assert.deepStrictEqual(crashed.error.reason, processExited)
      }))

    it.scopedLive("keeps no dead generation reachable: after crash/rebuild cycles only the live transport is", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const { faults, transport } = yield* McpTest.faulty(server.transport)
        const tracked = tracking(transport)
        const { lifecycle, session } = yield* McpSession.makeResilient(
          { transport: tracked.transport, clientInfo },
          McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.spaced("1 millis") })
        )
        for (let generation = 2; generation <= 6; generation++) {
          yield* faults.crash(processExited)
          yield* eventually(lifecycle.state, (s) => s._tag === "Connected" && s.generation === generation, 5000, realTick)
          yield* session.callTool({ name: "echo", arguments: { message: `generation ${generation}` } })
        }
        const reachable = yield* tracked.reachable(1)
        assert.strictEqual(tracked.opened(), 6)
        // the first generation and the one the last crash ended used to stay reachable (a parameter of the
        // manager fiber, and the crash's captured stack trace)
        assert.strictEqual(reachable, 1, `${reachable} of 6 transports still reachable`)
      }))

    it.scopedLive("after giving up, no dead transport is reachable while the session and its GaveUp are kept", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        // not McpTest.faulty, which keeps its last connection for the faults it injects
        let open = true
        let current: WeakRef<McpTransport.McpTransport.Control> | undefined
        const tracked = tracking(McpTransport.make({
          description: server.transport.description,
          open: (control) =>
            open
              ? Effect.tap(server.transport.open(control), () => void (current = new WeakRef(control)))
              : Effect.fail(new McpError.TransportCrashed({ reason: refused, transport: "closable" }))
        }))
        const { lifecycle, session } = yield* McpSession.makeResilient(
          { transport: tracked.transport, clientInfo },
          McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.recurs(1) })
        )
        yield* session.ping()
        open = false
        current!.deref()!.crash(new McpError.Closed({ detail: "closed by the transport" }))
        const gaveUp = yield* Effect.flip(session.await)
        assert.strictEqual(gaveUp._tag, "GaveUp")
        assert.strictEqual((yield* lifecycle.state)._tag, "GaveUp")
        const reachable = yield* tracked.reachable(0)
        assert.strictEqual(tracked.opened(), 1)
        // the resilient session kept the dead session for its server info (serverInfo and the like)
        assert.strictEqual(reachable, 0, `${reachable} dead transport(s) still reachable`)
        assert.strictEqual(session.serverInfo.name, "effect-mcp-test")
      }))

    it.scoped("backoff between attempts follows the schedule exactly", () =>
      Effect.gen(function*() {
        const { events, faults, lifecycle } = yield* setup({
          reconnect: Schedule.exponential("100 millis", 2)
        })
        yield* faults.failNextOpens(refused, refused, refused)
        yield* faults.crash(processExited)
        // the first attempt after a crash is immediate
        yield* eventually(faults.opens, (n) => n === 2)
        yield* expectOpenAt(faults, 100, 3)
        yield* expectOpenAt(faults, 200, 4)
        yield* expectOpenAt(faults, 400, 5)
        yield* connectedAgain(lifecycle, 2)
        const rebuilding = (yield* events).filter((e) => e._tag === "Rebuilding")
        assert.deepStrictEqual(rebuilding.map((e) => (e as { attempt: number }).attempt), [1, 2, 3])
        const rebuilt = (yield* events).find((e) => e._tag === "Rebuilt") as { millis: number }
        assert.strictEqual(rebuilt.millis, 700)
      }))

    it.scoped("bounded attempts end in a typed GaveUp, for pending waiters and later calls alike", () =>
      Effect.gen(function*() {
        const { events, faults, lifecycle, session } = yield* setup({
          reconnect: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(2)))
        })
        yield* faults.failNextOpens(refused, refused, refused, refused)
        yield* faults.crash(processExited)
        yield* eventually(faults.opens, (n) => n === 2)
        const waiting = yield* Effect.fork(session.ping())
        yield* tick
        yield* TestClock.adjust("1 second")
        yield* eventually(faults.opens, (n) => n === 3)
        yield* TestClock.adjust("1 second")
        yield* eventually(lifecycle.state, (s) => s._tag === "GaveUp")
        const error = failureOf(yield* Fiber.await(waiting))
        assert.isTrue(McpError.isGaveUp(error))
        assert.strictEqual((error as McpError.GaveUp).attempts, 3)
        assert.deepStrictEqual(((error as McpError.GaveUp).lastError as McpError.TransportCrashed).reason, refused)
        assert.isTrue(McpError.isGaveUp(failureOf(yield* Effect.exit(session.ping()))))
        assert.isTrue(McpError.isGaveUp(failureOf(yield* Effect.exit(session.await))))
        assert.strictEqual(yield* faults.opens, 4)
        assert.strictEqual((yield* events).at(-1)?._tag, "GaveUp")
      }))

    it.effect("the first session follows the schedule too, and gives up with GaveUp", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const { faults, transport } = yield* McpTest.faulty(server.transport)
        yield* faults.failNextOpens(refused, refused)
        const policy = McpSessionPolicy.make({ reconnect: Schedule.recurs(1), keepAlive: false })
        const error = failureOf(
          yield* Effect.exit(Effect.scoped(McpSession.makeResilient({ transport, clientInfo }, policy)))
        )
        assert.isTrue(McpError.isGaveUp(error))
        assert.strictEqual(yield* faults.opens, 2)
        // and when an attempt succeeds in time, the layer is built
        yield* faults.failNextOpens(refused)
        const result = yield* Effect.gen(function*() {
          const session = yield* McpSession.McpSession
          return yield* session.callTool({ name: "echo", arguments: { message: "late" } })
        }).pipe(Effect.provide(McpSession.layerResilient({ transport, clientInfo }, policy)))
        assert.deepStrictEqual(result.content, [{ type: "text", text: "Echo: late" }])
      }))

    it.scoped("InitializeFailed backs off by the schedule", () =>
      Effect.gen(function*() {
        let initializes = 0
        const transport = scripted((msg, reply) => {
          if (msg.method === "ping") reply({ jsonrpc: "2.0", id: msg.id!, result: {} })
        }, {
          initialize: (id, reply) => {
            initializes++
            if (initializes <= 2) return reply({ jsonrpc: "2.0", id, error: { code: -32603, message: "not ready" } })
            reply({
              jsonrpc: "2.0",
              id,
              result: { protocolVersion: "2025-06-18", capabilities: {}, serverInfo: { name: "late", version: "1" } }
            })
          }
        })
        const building = yield* Effect.fork(McpSession.makeResilient(
          { transport, clientInfo },
          McpSessionPolicy.make({ reconnect: Schedule.spaced("1 second"), keepAlive: false })
        ))
        yield* eventually(Effect.sync(() => initializes), (n) => n === 1)
        yield* TestClock.adjust("999 millis")
        for (let i = 0; i < 10; i++) yield* tick
        assert.strictEqual(initializes, 1)
        yield* TestClock.adjust("1 milli")
        yield* eventually(Effect.sync(() => initializes), (n) => n === 2)
        yield* TestClock.adjust("1 second")
        const { session } = exitIsSuccess(yield* Fiber.await(building))
        assert.strictEqual(session.serverInfo.name, "late")
        yield* session.ping()
      }))

    it.scoped("concurrent callers that see a crash trigger one rebuild", () =>
      Effect.gen(function*() {
        const { faults, server, session } = yield* setup()
        yield* faults.crash(processExited)
        const results = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => session.callTool({ name: "echo", arguments: { message: String(i) } }),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(results.length, 20)
        assert.strictEqual(yield* faults.opens, 2)
        assert.strictEqual(yield* server.opened, 2)
        assert.strictEqual(yield* server.executions("echo"), 20)
      }))

    it.scoped("calls wait for the rebuild, bounded by maxWait, or fail fast", () =>
      Effect.gen(function*() {
        const { faults, lifecycle, session } = yield* setup({ reconnect: Schedule.spaced("1 minute"), maxWait: "5 seconds" })
        const waiting = yield* pingWhileReconnecting(faults, lifecycle, session)
        yield* TestClock.adjust("5 seconds")
        const error = failureOf(yield* Fiber.await(waiting)) as McpError.TransportCrashed
        assert.strictEqual(error._tag, "TransportCrashed")
        assert.deepStrictEqual(error.reason, processExited)
        // a call that waits while the rebuild lands succeeds (the next attempt is at 60 s)
        yield* TestClock.adjust("51 seconds")
        const patient = yield* Effect.fork(session.ping())
        yield* tick
        yield* TestClock.adjust("4 seconds")
        exitIsSuccess(yield* Fiber.await(patient))
      }))

    it.scoped("whileReconnecting: fail fails at once with the crash", () =>
      Effect.gen(function*() {
        const { faults, lifecycle, session } = yield* setup({
          reconnect: Schedule.spaced("1 minute"),
          whileReconnecting: "fail"
        })
        yield* faults.failNextOpens(refused)
        yield* faults.crash(processExited)
        yield* eventually(lifecycle.state, (s) => s._tag === "Reconnecting")
        const error = failureOf(yield* Effect.exit(session.ping())) as McpError.TransportCrashed
        assert.strictEqual(error.delivery, "NotDelivered")
        assert.deepStrictEqual(error.reason, processExited)
      }))

    describe("Retry-After", () => {
      const asked = (status: number, seconds: number) =>
        new McpError.HttpStatus({ status, method: "POST", body: "slow down", retryAfter: Duration.seconds(seconds) })

      it("McpSessionPolicy.retryAfter reads the wait an error asks for, bounded", () => {
        const max = Duration.seconds(10)
        const crashed = (reason: McpError.TransportCrashedReason) => new McpError.TransportCrashed({ reason, transport: "t" })
        assert.deepStrictEqual(McpSessionPolicy.retryAfter(crashed(asked(429, 3)), max), Duration.seconds(3))
        assert.deepStrictEqual(McpSessionPolicy.retryAfter(crashed(asked(503, 60)), max), max)
        assert.isUndefined(McpSessionPolicy.retryAfter(crashed(new McpError.HttpStatus({ status: 429, method: "POST", body: "" })), max))
        assert.isUndefined(McpSessionPolicy.retryAfter(crashed(refused), max))
        assert.isUndefined(
          McpSessionPolicy.retryAfter(new McpError.InitializeFailed({ transport: "t", reason: "Rejected", detail: "no" }), max)
        )
      })

      it.scoped("a crash whose server asked for a wait rebuilds after it, not at once", () =>
        Effect.gen(function*() {
          const { faults, lifecycle, session } = yield* setup()
          yield* faults.crash(asked(503, 5))
          yield* eventually(lifecycle.state, (s) => s._tag === "Reconnecting")
          yield* expectOpenAt(faults, 5000, 2)
          yield* connectedAgain(lifecycle, 2)
          yield* session.ping()
        }))

      it.scoped("a failed attempt waits the longer of the schedule's delay and the server's", () =>
        Effect.gen(function*() {
          // the schedule says 1 s; the server asks 3 s (its wait wins), then nothing, then 0 s (the schedule's wins)
          const { faults, lifecycle } = yield* setup()
          yield* faults.failNextOpens(asked(429, 3), refused, asked(429, 0))
          yield* faults.crash(processExited)
          yield* eventually(faults.opens, (n) => n === 2)
          yield* expectOpenAt(faults, 3000, 3)
          yield* expectOpenAt(faults, 1000, 4)
          yield* expectOpenAt(faults, 1000, 5)
          yield* connectedAgain(lifecycle, 2)
        }))

      it.scoped("what a server asks is bounded by maxRetryAfter, and Duration.zero ignores it", () =>
        Effect.gen(function*() {
          const bounded = yield* setup({ maxRetryAfter: "10 seconds" })
          yield* bounded.faults.crash(asked(503, 3600))
          yield* eventually(bounded.lifecycle.state, (s) => s._tag === "Reconnecting")
          yield* expectOpenAt(bounded.faults, 10_000, 2)
          yield* connectedAgain(bounded.lifecycle, 2)

          const ignoring = yield* setup({ maxRetryAfter: Duration.zero })
          yield* ignoring.faults.crash(asked(503, 3600))
          yield* connectedAgain(ignoring.lifecycle, 2)
          assert.strictEqual(yield* ignoring.faults.opens, 2)
        }))
    })

    it.scoped("notifications flow across rebuilds", () =>
      Effect.gen(function*() {
        const { faults, lifecycle, session } = yield* setup()
        const collected = yield* session.notifications.pipe(Stream.take(2), Stream.runCollect, Effect.fork)
        yield* tick
        yield* session.callTool({ name: "log", arguments: { message: "before" } })
        yield* faults.crash(processExited)
        yield* connectedAgain(lifecycle, 2)
        yield* tick
        yield* session.callTool({ name: "log", arguments: { message: "after" } })
        const notes = Chunk.toReadonlyArray(yield* Fiber.join(collected))
        assert.deepStrictEqual(notes.map((n) => (n.params as { data: unknown }).data), ["before", "after"])
      }))
  })

  describe("permanent failures", () => {
    const wrongUrl = new McpError.HttpStatus({ status: 404, method: "POST", body: "Cannot POST /mpc", initial: true })
    const missing = new McpError.SpawnFailed({ command: "mcp-nope", error: "spawn mcp-nope ENOENT", code: "ENOENT" })
    const unavailable = new McpError.HttpStatus({ status: 503, method: "POST", body: "busy", initial: true })

    /** Builds a resilient session whose first opening fails with `reason`; the build's fiber, not awaited. */
    const building = (reason: McpError.TransportCrashedReason, policy: Parameters<typeof McpSessionPolicy.make>[0] = {}) =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const { faults, transport } = yield* McpTest.faulty(server.transport)
        yield* faults.failNextOpens(reason)
        const fiber = yield* Effect.fork(McpSession.makeResilient({ transport, clientInfo }, McpSessionPolicy.make({ keepAlive: false, ...policy })))
        for (let i = 0; i < 20; i++) yield* tick
        return { faults, fiber }
      })

    for (const [name, reason] of [["a wrong URL (404 before any answer)", wrongUrl], ["a missing command", missing]] as const) {
      it.scoped(`${name}: the default policy gives up at once, after one attempt, without waiting`, () =>
        Effect.gen(function*() {
          const { faults, fiber } = yield* building(reason)
          // the Clock has not moved: a backoff would still be sleeping on it
          const exit = fiber.unsafePoll()
          assert.isNotNull(exit, "still waiting: the permanent failure was retried")
          const error = failureOf(exit!)
          assert.isTrue(McpError.isGaveUp(error), String(error))
          const gaveUp = error as McpError.GaveUp
          assert.strictEqual(gaveUp.attempts, 1)
          assert.deepStrictEqual((gaveUp.lastError as McpError.TransportCrashed).reason, reason)
          assert.include(gaveUp.message, "(not retryable)")
          assert.strictEqual(yield* faults.opens, 1)
          assert.strictEqual(Chunk.size(yield* TestClock.sleeps()), 0)
        }))
    }

    it.scoped("a retryable failure (503) still backs off by the schedule, then the session is built", () =>
      Effect.gen(function*() {
        const { faults, fiber } = yield* building(unavailable)
        assert.isNull(fiber.unsafePoll())
        assert.strictEqual(yield* faults.opens, 1)
        assert.isAbove(Chunk.size(yield* TestClock.sleeps()), 0)
        yield* TestClock.adjust("10 seconds")
        const { session } = exitIsSuccess(yield* Fiber.await(fiber))
        yield* session.ping()
        assert.strictEqual(yield* faults.opens, 2)
      }))

    it.scoped("retryable: () => true retries a permanent failure too, as the schedule allows", () =>
      Effect.gen(function*() {
        const { faults, fiber } = yield* building(wrongUrl, { retryable: () => true, reconnect: Schedule.spaced("1 second") })
        assert.isNull(fiber.unsafePoll())
        yield* TestClock.adjust("1 second")
        exitIsSuccess(yield* Fiber.await(fiber))
        assert.strictEqual(yield* faults.opens, 2)
      }))

    it.scoped("a rebuild that fails permanently gives up at once; the crash of a live session is not judged", () =>
      Effect.gen(function*() {
        const { faults, lifecycle, session } = yield* setup({ reconnect: Schedule.spaced("1 minute") })
        // a 403 on a live session's POST: one rebuild is tried, and its own 403 ends it
        const forbidden = new McpError.HttpStatus({ status: 403, method: "POST", body: "no" })
        yield* faults.failNextOpens(forbidden)
        yield* faults.crash(forbidden)
        const state = yield* eventually(lifecycle.state, (s) => s._tag === "GaveUp")
        const error = (state as { error: McpError.GaveUp }).error
        assert.strictEqual(error.attempts, 1)
        assert.deepStrictEqual((error.lastError as McpError.TransportCrashed).reason, forbidden)
        assert.strictEqual(yield* faults.opens, 2)
        assert.isTrue(McpError.isGaveUp(failureOf(yield* Effect.exit(session.ping()))))
      }))
  })

  describe("replay", () => {
    const crashWhilePending = (tool: string, policy: Parameters<typeof McpSessionPolicy.make>[0], replay?: McpSessionPolicy.ReplayRule) =>
      Effect.gen(function*() {
        const { faults, lifecycle, server, session } = yield* setup(policy)
        const call = yield* Effect.fork(session.callTool({ name: tool }, replay !== undefined ? { replay } : {}))
        yield* eventually(server.executions(tool), (n) => n === 1)
        yield* faults.crash(new McpError.StreamClosed({ detail: "cut" }))
        yield* connectedAgain(lifecycle, 2)
        return { call, server }
      })

    it.scoped("NotDelivered (default): a call that may have run is not replayed", () =>
      Effect.gen(function*() {
        const { call, server } = yield* crashWhilePending("block", {})
        const error = failureOf(yield* Fiber.await(call)) as McpError.TransportCrashed
        assert.strictEqual(error.delivery, "MaybeDelivered")
        for (let i = 0; i < 20; i++) yield* tick
        assert.strictEqual(yield* server.executions("block"), 1)
      }))

    it.scoped("NotDelivered: a call refused before it reached the server is replayed once, and runs once", () =>
      Effect.gen(function*() {
        const { faults, server, session } = yield* setup()
        yield* faults.failNextSends(new McpError.HttpStatus({ status: 403, method: "POST", body: "forbidden" }))
        const result = yield* session.callTool({ name: "increment" })
        assert.deepStrictEqual(result.content, [{ type: "text", text: "1" }])
        assert.strictEqual(yield* server.executions("increment"), 1)
        assert.strictEqual(yield* faults.opens, 2)
      }))

    it.scoped("a stale session re-initializes and the call is replayed", () =>
      Effect.gen(function*() {
        const { faults, server, session } = yield* setup()
        yield* faults.failNextSends(new McpError.SessionExpired({ status: 404, detail: "Session not found" }))
        const result = yield* session.callTool({ name: "echo", arguments: { message: "again" } })
        assert.deepStrictEqual(result.content, [{ type: "text", text: "Echo: again" }])
        assert.strictEqual(yield* server.opened, 2)
      }))

    it.scoped("maxReplays bounds replays", () =>
      Effect.gen(function*() {
        const { faults, server, session } = yield* setup({ maxReplays: 1 })
        const forbidden = new McpError.HttpStatus({ status: 403, method: "POST", body: "" })
        yield* faults.failNextSends(forbidden, forbidden)
        const error = failureOf(yield* Effect.exit(session.callTool({ name: "increment" }))) as McpError.TransportCrashed
        assert.deepStrictEqual(error.reason, forbidden)
        assert.strictEqual(error.delivery, "NotDelivered")
        assert.strictEqual(yield* server.executions("increment"), 0)
      }))

    it.scoped("Never: not even an undelivered call is replayed", () =>
      Effect.gen(function*() {
        const { faults, server, session } = yield* setup({ replay: "Never" })
        yield* faults.failNextSends(new McpError.HttpStatus({ status: 403, method: "POST", body: "" }))
        const error = failureOf(yield* Effect.exit(session.callTool({ name: "increment" }))) as McpError.TransportCrashed
        assert.strictEqual(error.delivery, "NotDelivered")
        assert.strictEqual(yield* server.executions("increment"), 0)
        // reads are always safe to replay (the session rebuilt by the first 403 dies young: the next rebuild
        // waits the schedule's next delay, see resetAfter)
        yield* faults.failNextSends(new McpError.HttpStatus({ status: 403, method: "POST", body: "" }))
        const listing = yield* Effect.fork(session.listTools())
        yield* tick
        yield* TestClock.adjust("1 second")
        const tools = exitIsSuccess(yield* Fiber.await(listing))
        assert.isAbove(tools.length, 0)
      }))

    it.scoped("Idempotent: read-only/idempotent tools are replayed, others are not", () =>
      Effect.gen(function*() {
        const readonly = yield* crashWhilePending("block-readonly", { replay: "Idempotent" })
        yield* eventually(readonly.server.executions("block-readonly"), (n) => n === 2)
        yield* readonly.server.release
        const result = exitIsSuccess(yield* Fiber.await(readonly.call))
        assert.deepStrictEqual(result.content, [{ type: "text", text: "released" }])
        assert.strictEqual(yield* readonly.server.executions("block-readonly"), 2)

        const plain = yield* crashWhilePending("block", { replay: "Idempotent" })
        const error = failureOf(yield* Fiber.await(plain.call)) as McpError.TransportCrashed
        assert.strictEqual(error.delivery, "MaybeDelivered")
        assert.strictEqual(yield* plain.server.executions("block"), 1)
      }))

    describe("a request failed alone, its session alive (a response stream ended without the answer)", () => {
      const lostWhilePending = (tool: string, policy: Parameters<typeof McpSessionPolicy.make>[0]) =>
        Effect.gen(function*() {
          const context = yield* setup(policy)
          const call = yield* Effect.fork(context.session.callTool({ name: tool }))
          yield* eventually(context.server.executions(tool), (n) => n === 1)
          yield* context.faults.failPending(new McpError.StreamClosed({ detail: "ended before answering" }))
          return { ...context, call }
        })

      it.scoped("is replayed, when its rule allows, on the same session: nothing is rebuilt", () =>
        Effect.gen(function*() {
          const { call, events, faults, server } = yield* lostWhilePending("block-readonly", { replay: "Idempotent" })
          yield* eventually(server.executions("block-readonly"), (n) => n === 2)
          yield* server.release
          const result = exitIsSuccess(yield* Fiber.await(call))
          assert.deepStrictEqual(result.content, [{ type: "text", text: "released" }])
          assert.strictEqual(yield* server.executions("block-readonly"), 2)
          assert.strictEqual(yield* faults.opens, 1)
          assert.deepStrictEqual((yield* events).map((e) => e._tag), ["Connected", "Replayed"])
        }))

      it.scoped("is not replayed when it may have run and its rule says no; the session goes on", () =>
        Effect.gen(function*() {
          const { call, events, faults, lifecycle, server, session } = yield* lostWhilePending("block", {})
          const error = failureOf(yield* Fiber.await(call)) as McpError.TransportCrashed
          assert.strictEqual(error.reason._tag, "StreamClosed")
          assert.strictEqual(error.delivery, "MaybeDelivered")
          const result = yield* session.callTool({ name: "echo", arguments: { message: "next" } })
          assert.deepStrictEqual(result.content, [{ type: "text", text: "Echo: next" }])
          assert.strictEqual(yield* server.executions("block"), 1)
          assert.strictEqual(yield* faults.opens, 1)
          assert.deepStrictEqual(yield* lifecycle.state, { _tag: "Connected", generation: 1 })
          assert.deepStrictEqual((yield* events).map((e) => e._tag), ["Connected"])
        }))
    })

    it.scoped("Always, or a caller opting in, replays a call that may have run", () =>
      Effect.gen(function*() {
        const { call, server } = yield* crashWhilePending("block", {}, "Always")
        yield* eventually(server.executions("block"), (n) => n === 2)
        yield* server.release
        exitIsSuccess(yield* Fiber.await(call))
        assert.strictEqual(yield* server.executions("block"), 2)
      }))
  })

  describe("liveness", () => {
    it.scoped("missed pings turn a silent peer into LivenessLost, on the Clock", () =>
      Effect.gen(function*() {
        const { events, faults, lifecycle } = yield* setup({
          keepAlive: { interval: "10 seconds", timeout: "2 seconds", maxMissed: 2 }
        })
        // an answered ping keeps it alive
        yield* TestClock.adjust("10 seconds")
        yield* eventually(faults.sent, (sent) => sent.some((m) => (m as { method?: string }).method === "ping"))
        yield* faults.blackHole(true)
        yield* TestClock.adjust("12 seconds") // ping 2 sent at 20 s, missed at 22 s
        for (let i = 0; i < 10; i++) yield* tick
        yield* TestClock.adjust("11999 millis") // ping 3 at 32 s, not yet missed
        for (let i = 0; i < 10; i++) yield* tick
        assert.strictEqual((yield* lifecycle.state)._tag, "Connected")
        yield* faults.blackHole(false)
        yield* TestClock.adjust("1 milli") // missed at 34 s
        yield* connectedAgain(lifecycle, 2)
        const crashed = (yield* events).find((e) => e._tag === "Crashed") as { error: McpError.TransportCrashed }
        assert.deepStrictEqual(crashed.error.reason, new McpError.LivenessLost({ missed: 2 }))
      }))
  })

  describe("telemetry", () => {
    it.scoped("a span per request with method, tool, server, attempt and outcome, and metrics", () =>
      Effect.gen(function*() {
        const spans: Array<{ name: string; attributes: Map<string, unknown> }> = []
        const tracer = Tracer.make({
          span: (name, parent, context, links, startTime, kind) => {
            const attributes = new Map<string, unknown>()
            return {
              _tag: "Span", name, spanId: `${spans.length}`, traceId: "trace", parent, context, links, kind,
              sampled: true, attributes, status: { _tag: "Started", startTime },
              end: () => void spans.push({ name, attributes }),
              attribute: (key, value) => void attributes.set(key, value),
              event: () => {},
              addLinks: () => {}
            }
          },
          context: (f) => f()
        })
        const replays = Metric.tagged(McpMetrics.replays, "method", "tools/call")
        const before = (yield* Metric.value(replays)).count
        const crashesBefore = (yield* Metric.value(Metric.tagged(McpMetrics.crashes, "reason", "HttpStatus"))).count
        // the failures counter carries both tags, as a user's query would name them
        const failures = Metric.tagged(Metric.tagged(McpMetrics.failures, "method", "tools/call"), "error", "HttpStatus")
        const failuresBefore = (yield* Metric.value(failures)).count
        const { faults, session } = yield* setup()
        yield* faults.failNextSends(new McpError.HttpStatus({ status: 403, method: "POST", body: "" }))
        yield* session.callTool({ name: "echo", arguments: { message: "secret-argument" } }).pipe(Effect.withTracer(tracer))
        const calls = spans.filter((s) => s.name === "McpSession.tools/call")
        assert.strictEqual(calls.length, 2)
        assert.deepStrictEqual(calls.map((s) => s.attributes.get("mcp.attempt")), [1, 2])
        assert.deepStrictEqual(calls.map((s) => s.attributes.get("mcp.outcome")), ["TransportCrashed.HttpStatus", "ok"])
        assert.strictEqual(calls[1].attributes.get("mcp.target"), "echo")
        assert.strictEqual(calls[1].attributes.get("mcp.server"), "effect-mcp-test")
        for (const span of calls) {
          assert.notInclude(JSON.stringify([...span.attributes.values()]), "secret-argument")
        }
        assert.strictEqual((yield* Metric.value(replays)).count, before + 1)
        assert.strictEqual(
          (yield* Metric.value(Metric.tagged(McpMetrics.crashes, "reason", "HttpStatus"))).count,
          crashesBefore + 1
        )
        assert.strictEqual((yield* Metric.value(failures)).count, failuresBefore + 1)
      }))
  })

  describe("logs", () => {
    it.scoped("a replay is logged with the session's annotations", () =>
      Effect.gen(function*() {
        const logs: Array<{ readonly message: string; readonly annotations: Record<string, unknown> }> = []
        const logger = Logger.make(({ annotations, message }) =>
          void logs.push({ message: String(message), annotations: Object.fromEntries(HashMap.toEntries(annotations)) })
        )
        const { faults, session } = yield* setup()
        yield* faults.failNextSends(new McpError.HttpStatus({ status: 403, method: "POST", body: "" }))
        yield* session.callTool({ name: "echo", arguments: { message: "x" } }).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
          Logger.withMinimumLogLevel(LogLevel.Debug)
        )
        const replay = logs.find((log) => log.message.includes("replaying tools/call echo (HttpStatus)"))
        assert.isDefined(replay)
        assert.deepStrictEqual(replay!.annotations, {
          module: "McpSession",
          method: "tools/call",
          transport: "in-memory test server",
          server: "effect-mcp-test",
          generation: 1
        })
      }))
  })

  describe("crash loops, defects and shutdown", () => {
    /** The test server's transport, each of its openings (counted from 0) made by `open`. */
    const eachOpening = (
      server: McpTest.TestServer,
      open: (
        opening: number,
        open: ReturnType<McpTransport.McpTransport["open"]>
      ) => ReturnType<McpTransport.McpTransport["open"]>
    ) => {
      let opening = 0
      return McpTransport.make({
        description: server.transport.description,
        open: (control) => open(opening++, server.transport.open(control))
      })
    }

    it.scoped("a rebuilt session that dies young goes on with the schedule, and its end gives up", () =>
      Effect.gen(function*() {
        const { events, faults, lifecycle, session } = yield* setup({
          reconnect: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(2)))
        })
        // the first crash starts the schedule anew: at once
        yield* faults.crash(processExited)
        yield* connectedAgain(lifecycle, 2)
        // the rebuilt session dies at once: a failed attempt, the next one waits the schedule's delay
        yield* faults.crash(processExited)
        yield* eventually(lifecycle.state, (s) => s._tag === "Reconnecting" && s.generation === 2)
        yield* expectOpenAt(faults, 1000, 3)
        yield* connectedAgain(lifecycle, 3)
        yield* faults.crash(processExited)
        yield* expectOpenAt(faults, 1000, 4)
        yield* connectedAgain(lifecycle, 4)
        // the schedule allows no more: a server that dies after each handshake is given up on
        yield* faults.crash(processExited)
        const gaveUp = (yield* Effect.flip(session.await)) as McpError.GaveUp
        assert.strictEqual(gaveUp._tag, "GaveUp")
        assert.strictEqual(gaveUp.attempts, 3)
        assert.deepStrictEqual((gaveUp.lastError as McpError.TransportCrashed).reason, processExited)
        assert.strictEqual(yield* faults.opens, 4)
        const rebuilding = (yield* events).filter((e) => e._tag === "Rebuilding")
        assert.deepStrictEqual(rebuilding.map((e) => (e as { attempt: number }).attempt), [1, 2, 3])
      }))

    it.scoped("a session that lived resetAfter starts the schedule anew: its rebuild goes at once", () =>
      Effect.gen(function*() {
        const { faults, lifecycle, session } = yield* setup({
          reconnect: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(1))),
          resetAfter: "5 seconds"
        })
        for (let generation = 2; generation <= 4; generation++) {
          yield* faults.crash(processExited)
          yield* connectedAgain(lifecycle, generation)
          assert.strictEqual(yield* faults.opens, generation)
          yield* TestClock.adjust("5 seconds")
        }
        yield* session.ping()
      }))

    it.scoped("a defect while rebuilding ends in a typed GaveUp for callers and await, not a silent wait", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const dying = eachOpening(server, (opening, open) => opening === 0 ? open : Effect.die(new Error("transport bug")))
        const { faults, transport } = yield* McpTest.faulty(dying)
        const { lifecycle, session } = yield* McpSession.makeResilient(
          { transport, clientInfo },
          McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.spaced("1 second") })
        )
        yield* faults.crash(processExited)
        const gaveUp = yield* eventually(Effect.flip(session.await).pipe(Effect.timeoutOption(0)), Option.isSome)
        assert.strictEqual(Option.getOrThrow(gaveUp)._tag, "GaveUp")
        assert.strictEqual((yield* lifecycle.state)._tag, "GaveUp")
        const error = failureOf(yield* Effect.exit(session.ping()))
        assert.isTrue(McpError.isGaveUp(error))
        assert.deepStrictEqual(((error as McpError.GaveUp).lastError as McpError.TransportCrashed).reason, processExited)
      }))

    it.scoped("a replay cut short by GaveUp fails with the crash that may have run the call, and is not told", () =>
      Effect.gen(function*() {
        const { events, faults, server, session } = yield* setup({ reconnect: Schedule.recurs(0), replay: "Always" })
        yield* faults.failNextOpens(refused)
        const call = yield* Effect.fork(session.callTool({ name: "block" }))
        yield* eventually(server.executions("block"), (n) => n === 1)
        yield* faults.crash(new McpError.StreamClosed({ detail: "cut" }))
        const error = failureOf(yield* Fiber.await(call)) as McpError.TransportCrashed
        assert.strictEqual(error._tag, "TransportCrashed")
        assert.strictEqual(error.delivery, "MaybeDelivered")
        assert.strictEqual(error.reason._tag, "StreamClosed")
        assert.isFalse((yield* events).some((e) => e._tag === "Replayed"))
        assert.strictEqual(yield* server.executions("block"), 1)
      }))

    it.scoped("whileReconnecting: fail fails at once even before the crash is taken note of", () =>
      Effect.gen(function*() {
        const { faults, session } = yield* setup({ reconnect: Schedule.spaced("1 minute"), whileReconnecting: "fail" })
        yield* faults.failNextOpens(refused)
        // the call sees the dead transport in the same fiber, before the manager has run
        yield* faults.crash(processExited)
        const call = yield* Effect.fork(session.ping())
        const exit = yield* eventually(Fiber.poll(call), Option.isSome, 50)
        const error = failureOf(Option.getOrThrow(exit)) as McpError.TransportCrashed
        assert.strictEqual(error.delivery, "NotDelivered")
        assert.deepStrictEqual(error.reason, processExited)
      }))

    it.scoped("a call waiting for a rebuild ends when the session's scope closes", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const { faults, transport } = yield* McpTest.faulty(server.transport)
        const scope = yield* Scope.make()
        const { lifecycle, session } = yield* McpSession.makeResilient(
          { transport, clientInfo },
          McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.spaced("1 minute") })
        ).pipe(Scope.extend(scope))
        const waiting = yield* pingWhileReconnecting(faults, lifecycle, session)
        yield* Scope.close(scope, Exit.void)
        const exit = yield* eventually(Fiber.poll(waiting), Option.isSome, 50)
        const error = failureOf(Option.getOrThrow(exit)) as McpError.TransportCrashed
        assert.strictEqual(error.reason._tag, "Closed")
        assert.strictEqual(error.delivery, "NotDelivered")
        assert.strictEqual(yield* server.live, 0)
      }))

    it.scoped("closing the layer while it closes a crashed generation still closes that generation whole", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        // the first opening's close takes a second, on the Clock, in a finalizer that runs as the closing fiber
        // runs (`Scope.addFinalizer`, like a child scope's close or a forked fiber's interruption)
        const slow = eachOpening(server, (opening, open) =>
          Effect.tap(
            open,
            () => opening === 0 ? Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, Effect.sleep("1 second"))) : Effect.void
          ))
        const { faults, transport } = yield* McpTest.faulty(slow)
        const scope = yield* Scope.make()
        const { lifecycle } = yield* McpSession.makeResilient(
          { transport, clientInfo },
          McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.spaced("1 minute") })
        ).pipe(Scope.extend(scope))
        yield* faults.crash(processExited)
        // the manager is closing generation 1 (its slow finalizer sleeps)
        yield* eventually(lifecycle.state, (s) => s._tag === "Reconnecting")
        for (let i = 0; i < 10; i++) yield* tick
        assert.strictEqual(yield* server.live, 1)
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* tick
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(closing)
        assert.strictEqual(yield* server.live, 0)
      }))
  })

  describe("tool annotations", () => {
    /** The call fails as one that may have run, and is not replayed: it ran once. */
    const notReplayed = <A, E>(call: Fiber.RuntimeFiber<A, E>, executions: Effect.Effect<number>) =>
      Effect.gen(function*() {
        const exit = yield* eventually(Fiber.poll(call), Option.isSome)
        const error = failureOf(Option.getOrThrow(exit)) as McpError.TransportCrashed
        assert.strictEqual(error.delivery, "MaybeDelivered")
        for (let i = 0; i < 10; i++) yield* tick
        assert.strictEqual(yield* executions, 1)
      })

    /** A server whose `charge` tool blocks until released; read-only or not as `readOnly()` says when listed. */
    const chargeServer = (readOnly: () => boolean) => {
      let executions = 0
      let release: () => void = () => {}
      let current: ReturnType<McpServer["registerTool"]> | undefined
      const transport = McpTransport.inMemory(() => {
        const server = new McpServer({ name: "charges", version: "1.0.0" })
        current = server.registerTool("charge", {
          description: "charges a card",
          annotations: { readOnlyHint: readOnly(), idempotentHint: false }
        }, async () => {
          executions++
          await new Promise<void>((resolve) => (release = resolve))
          return { content: [{ type: "text", text: "charged" }] }
        })
        return server
      })
      return {
        transport,
        executions: Effect.sync(() => executions),
        release: Effect.sync(() => release()),
        update: (readOnlyHint: boolean) => Effect.sync(() => current!.update({ annotations: { readOnlyHint, idempotentHint: false } }))
      }
    }

    it.scoped("Idempotent reads what the rebuilt server says of a tool, not what an earlier one said", () =>
      Effect.gen(function*() {
        let generation = 0
        const charges = chargeServer(() => ++generation === 1)
        const { faults, transport } = yield* McpTest.faulty(charges.transport)
        const { lifecycle, session } = yield* McpSession.makeResilient(
          { transport, clientInfo },
          McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.spaced("1 second"), replay: "Idempotent" })
        )
        const first = yield* session.listTools()
        assert.isTrue(first[0]!.annotations?.readOnlyHint)
        // the server restarts, a new version: `charge` is no longer read-only
        yield* faults.crash(processExited)
        yield* connectedAgain(lifecycle, 2)
        const call = yield* Effect.fork(session.callTool({ name: "charge" }))
        yield* eventually(charges.executions, (n) => n === 1)
        yield* faults.crash(new McpError.StreamClosed({ detail: "cut" }))
        yield* tick
        yield* TestClock.adjust("1 second")
        yield* notReplayed(call, charges.executions)
        yield* charges.release
      }))

    it.scoped("Idempotent: a tool the last listing says is not idempotent fails at once; nothing waits for the rebuild", () =>
      Effect.gen(function*() {
        const { faults, lifecycle, server, session } = yield* setup({ replay: "Idempotent", reconnect: Schedule.spaced("1 minute") })
        yield* session.listTools()
        // the rebuild's first attempt is refused: the next one is a minute away on the Clock, which never moves
        yield* faults.failNextOpens(refused)
        const call = yield* Effect.fork(session.callTool({ name: "block" }))
        yield* eventually(server.executions("block"), (n) => n === 1)
        yield* faults.crash(processExited)
        yield* notReplayed(call, server.executions("block"))
        const error = failureOf(call.unsafePoll()!) as McpError.TransportCrashed
        assert.deepStrictEqual(error.reason, processExited)
        assert.strictEqual((yield* lifecycle.state)._tag, "Reconnecting")
        // a tool it says is read-only is still listed again on the rebuilt session, and replayed (the session
        // lives past resetAfter first, so that its crash is rebuilt at once)
        yield* TestClock.adjust("1 minute")
        yield* connectedAgain(lifecycle, 2)
        yield* TestClock.adjust("10 seconds")
        const readOnly = yield* Effect.fork(session.callTool({ name: "block-readonly" }))
        yield* eventually(server.executions("block-readonly"), (n) => n === 1)
        yield* faults.crash(processExited)
        yield* eventually(server.executions("block-readonly"), (n) => n === 2)
        yield* server.release
        const result = exitIsSuccess(yield* Fiber.await(readOnly))
        assert.deepStrictEqual(result.content, [{ type: "text", text: "released" }])
      }))

    it.scoped("Idempotent does not keep a listing the server said changed while it was read", () =>
      Effect.gen(function*() {
        // the server answers tools/list and says its tools changed in the same tick: `charge` is no longer
        // idempotent, and the answer just read is the old one
        let idempotent = true
        let calls = 0
        const scriptedTransport = scripted((msg, reply) => {
          if (msg.method === "tools/list") {
            const annotations = { readOnlyHint: false, idempotentHint: idempotent }
            reply({ jsonrpc: "2.0", id: msg.id!, result: { tools: [{ name: "charge", inputSchema: { type: "object" }, annotations }] } })
            if (idempotent) reply({ jsonrpc: "2.0", method: "notifications/tools/list_changed" })
            idempotent = false
          }
          // a call is never answered
          if (msg.method === "tools/call") calls++
        })
        const { faults, transport } = yield* McpTest.faulty(scriptedTransport)
        const { session } = yield* McpSession.makeResilient(
          { transport, clientInfo },
          McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.spaced("1 second"), replay: "Idempotent" })
        )
        const listing = yield* session.listTools()
        assert.isTrue(listing[0]!.annotations?.idempotentHint)
        const call = yield* Effect.fork(session.callTool({ name: "charge" }))
        yield* eventually(Effect.sync(() => calls), (n) => n === 1)
        yield* faults.failPending(new McpError.StreamClosed({ detail: "the answer stream ended" }))
        yield* notReplayed(call, Effect.sync(() => calls))
      }))

    it.scoped("Idempotent asks again a server that says its tools changed as it answers, and replays what it may", () =>
      Effect.gen(function*() {
        // as server-everything does after every handshake: the first answers come with a list_changed
        let listings = 0
        let calls = 0
        const scriptedTransport = scripted((msg, reply) => {
          if (msg.method === "tools/list") {
            listings++
            const annotations = { readOnlyHint: false, idempotentHint: true }
            reply({ jsonrpc: "2.0", id: msg.id!, result: { tools: [{ name: "set", inputSchema: { type: "object" }, annotations }] } })
            if (listings <= 2) reply({ jsonrpc: "2.0", method: "notifications/tools/list_changed" })
          }
          if (msg.method === "tools/call" && ++calls > 1) {
            reply({ jsonrpc: "2.0", id: msg.id!, result: { content: [{ type: "text", text: "set" }] } })
          }
        })
        const { faults, transport } = yield* McpTest.faulty(scriptedTransport)
        const { session } = yield* McpSession.makeResilient(
          { transport, clientInfo },
          McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.spaced("1 second"), replay: "Idempotent" })
        )
        yield* session.listTools()
        const call = yield* Effect.fork(session.callTool({ name: "set" }))
        yield* eventually(Effect.sync(() => calls), (n) => n === 1)
        yield* faults.failPending(new McpError.StreamClosed({ detail: "the answer stream ended" }))
        const result = yield* Fiber.join(call)
        assert.deepStrictEqual(result.content, [{ type: "text", text: "set" }])
        assert.strictEqual(calls, 2)
        assert.strictEqual(listings, 3)
      }))

    it.scoped("Idempotent forgets what tools/list said once the server says its tools changed", () =>
      Effect.gen(function*() {
        const charges = chargeServer(() => true)
        const { faults, transport } = yield* McpTest.faulty(charges.transport)
        const { session } = yield* McpSession.makeResilient(
          { transport, clientInfo },
          McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.spaced("1 second"), replay: "Idempotent" })
        )
        yield* session.listTools()
        const changed = yield* session.notifications.pipe(
          Stream.filter((n) => n.method === "notifications/tools/list_changed"),
          Stream.take(1),
          Stream.runDrain,
          Effect.fork
        )
        yield* tick
        yield* charges.update(false)
        yield* Fiber.join(changed)
        const call = yield* Effect.fork(session.callTool({ name: "charge" }))
        yield* eventually(charges.executions, (n) => n === 1)
        // the call fails alone; the transport lives on
        yield* faults.failPending(new McpError.StreamClosed({ detail: "the answer stream ended" }))
        yield* notReplayed(call, charges.executions)
        yield* charges.release
      }))
  })

  describe("layer", () => {
    it.scopedLive("closing after a rebuild is no crash: nothing warns, nothing is left open", () =>
      Effect.gen(function*() {
        const warnings: Array<string> = []
        const logger = Logger.make(({ logLevel, message }) => {
          if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) warnings.push(String(message))
        })
        const server = yield* McpTest.server()
        // a transport that takes a moment to close, as real ones do (a DELETE, a child's exit)
        const slowToClose = McpTransport.make({
          description: "slow to close",
          open: (control) =>
            Effect.tap(
              server.transport.open(control),
              () => Effect.addFinalizer(() => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20))))
            )
        })
        const { faults, transport } = yield* McpTest.faulty(slowToClose)
        yield* Effect.gen(function*() {
          const lifecycle = yield* McpSession.Lifecycle
          yield* faults.crash(processExited)
          yield* eventually(lifecycle.state, (s) => s._tag === "Connected" && s.generation === 2, 5000, realTick)
        }).pipe(
          Effect.provide(McpSession.layerResilient({ transport, clientInfo }, McpSessionPolicy.make({ keepAlive: false }))),
          Effect.provide(Logger.replace(Logger.defaultLogger, logger))
        )
        assert.strictEqual(warnings.length, 1, warnings.join("\n")) // the crash we caused, not the shutdown
        assert.strictEqual(yield* server.live, 0)
      }))

    it.effect("provides McpSession and Lifecycle, and closes everything with its scope", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const state = yield* Effect.gen(function*() {
          const session = yield* McpSession.McpSession
          const lifecycle = yield* McpSession.Lifecycle
          yield* session.ping()
          return yield* lifecycle.state
        }).pipe(
          Effect.provide(McpSession.layerResilient(
            { transport: server.transport, clientInfo },
            McpSessionPolicy.make({ keepAlive: false })
          ))
        )
        assert.deepStrictEqual(state, { _tag: "Connected", generation: 1 })
        assert.strictEqual(yield* server.live, 0)
      }))
  })
})
