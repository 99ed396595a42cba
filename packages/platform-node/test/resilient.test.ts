/**
 * Resilient sessions end to end against the real `@modelcontextprotocol/server-everything`: the server is
 * killed by PID mid-call and restarted (same port for HTTP and SSE; a new child for stdio); the pending call
 * fails typed at once, and the next call succeeds on a rebuilt session without the caller doing anything.
 */
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import type { McpError} from "@effect-mcp/session";
import { McpSession, McpSessionPolicy, type McpTransport } from "@effect-mcp/session"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { childPids, clientInfo, crashOf, isAlive, serverEverything, startEverything } from "./utils.js"

const Env = Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)

const policy = McpSessionPolicy.make({
  // a restart takes a moment: retry every 50 ms, for at most ~10 s
  reconnect: Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(200))),
  keepAlive: false
})


/**
 * Opens a resilient session, starts a long call, kills the server once the call is underway, checks the
 * typed failure and its latency, restarts the server, and checks that the next call just works.
 */
const killAndRecover = <R>(
  transport: McpTransport.McpTransport<R>,
  kill: Effect.Effect<void, Error, Scope.Scope>,
  restart: Effect.Effect<void, Error, Scope.Scope>
) =>
  Effect.gen(function*() {
    const { lifecycle, session } = yield* McpSession.makeResilient({ transport, clientInfo, requestTimeout: "20 seconds" }, policy)
    const events: Array<McpSession.LifecycleEvent> = []
    yield* lifecycle.events.pipe(Stream.runForEach((e) => Effect.sync(() => void events.push(e))), Effect.forkScoped)

    const echo = yield* session.callTool({ name: "echo", arguments: { message: "before" } })
    assert.deepStrictEqual(echo.content[0], { type: "text", text: "Echo: before" })

    let underway!: () => void
    const started = new Promise<void>((resolve) => (underway = resolve))
    const call = yield* session.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 20, steps: 200 } },
      { onProgress: () => underway() }
    ).pipe(Effect.exit, Effect.fork)
    yield* Effect.promise(() => started)
    const killedAt = performance.now()
    yield* kill
    const crash = crashOf(yield* Fiber.join(call))
    const millis = performance.now() - killedAt
    // not replayed: it may have run (the default rule replays only what never reached the server)
    assert.strictEqual(crash.delivery, "MaybeDelivered")
    assert.isBelow(millis, 1000)

    yield* restart
    const after = yield* session.callTool({ name: "echo", arguments: { message: "after" } })
    assert.deepStrictEqual(after.content[0], { type: "text", text: "Echo: after" })
    const state = yield* lifecycle.state
    assert.strictEqual(state._tag, "Connected")
    assert.isAtLeast((state as { generation: number }).generation, 2)
    assert.includeMembers(events.map((e) => e._tag), ["Crashed", "Rebuilt"])
    return crash
  })

describe("resilient sessions against server-everything", () => {
  it.scopedLive("Streamable HTTP: killed mid-call and restarted on the same port", () =>
    Effect.gen(function*() {
      const first = yield* Scope.make()
      const server = yield* startEverything("streamableHttp").pipe(Scope.extend(first))
      const crash = yield* killAndRecover(
        NodeMcpTransport.streamableHttp({ url: server.url }),
        Scope.close(first, Exit.void),
        Effect.asVoid(startEverything("streamableHttp", server.port))
      )
      assert.include(["ConnectionFailed", "StreamClosed"], crash.reason._tag)
    }).pipe(Effect.provide(Env)), 30_000)

  it.scopedLive("Streamable HTTP: a call that opted in to replay is sent again on the new session and completes", () =>
    Effect.gen(function*() {
      const first = yield* Scope.make()
      const server = yield* startEverything("streamableHttp").pipe(Scope.extend(first))
      const { lifecycle, session } = yield* McpSession.makeResilient(
        { transport: NodeMcpTransport.streamableHttp({ url: server.url }), clientInfo, requestTimeout: "20 seconds" },
        policy
      )
      let underway!: () => void
      const started = new Promise<void>((resolve) => (underway = resolve))
      const progress: Array<number> = []
      const call = yield* session.callTool(
        { name: "trigger-long-running-operation", arguments: { duration: 1, steps: 10 } },
        { replay: "Always", onProgress: (p) => (progress.push(p.progress), underway()) }
      ).pipe(Effect.fork)
      yield* Effect.promise(() => started)
      yield* Scope.close(first, Exit.void)
      yield* startEverything("streamableHttp", server.port)
      const result = yield* Fiber.join(call)
      assert.include(JSON.stringify(result.content), "completed")
      assert.strictEqual(progress.at(-1), 10)
      assert.strictEqual((yield* lifecycle.state)._tag, "Connected")
    }).pipe(Effect.provide(Env)), 30_000)

  it.scopedLive("legacy SSE: killed mid-call and restarted on the same port", () =>
    Effect.gen(function*() {
      const first = yield* Scope.make()
      const server = yield* startEverything("sse").pipe(Scope.extend(first))
      const crash = yield* killAndRecover(
        NodeMcpTransport.sse({ url: server.url }),
        Scope.close(first, Exit.void),
        Effect.asVoid(startEverything("sse", server.port))
      )
      assert.strictEqual(crash.reason._tag, "StreamClosed")
    }).pipe(Effect.provide(Env)), 30_000)

  it.scopedLive("stdio: the child is killed mid-call; a new child serves the next call; nothing is left", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      let killed = 0
      const crash = yield* killAndRecover(
        NodeMcpTransport.stdio({ command: process.execPath, args: [serverEverything, "stdio"] }),
        Effect.sync(() => {
          const [pid] = childPids(serverEverything)
          killed = pid!
          process.kill(pid!, "SIGKILL")
        }),
        Effect.void
      ).pipe(Scope.extend(scope))
      assert.deepStrictEqual(crash.reason._tag, "ProcessExited")
      assert.strictEqual((crash.reason as McpError.ProcessExited).signal, "SIGKILL")
      const [respawned] = childPids(serverEverything)
      assert.isDefined(respawned)
      assert.notStrictEqual(respawned, killed)
      assert.isFalse(isAlive(killed))
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(childPids(serverEverything), [])
    }).pipe(Effect.provide(Env)), 30_000)
})
