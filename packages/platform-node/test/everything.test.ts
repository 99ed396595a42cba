/**
 * End to end against the real `@modelcontextprotocol/server-everything`, over stdio, Streamable HTTP and
 * legacy SSE: the happy path, a kill by PID mid-call, and what closing leaves behind.
 */
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import { McpSession, McpSessionPolicy, type McpTransport } from "@effect-mcp/session"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import type { Progress } from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { childPids, clientInfo, crashOf, isAlive, serverEverything, startEverything, timed } from "./utils.js"

const Env = Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)


/** What every transport must do with a live server-everything. */
const exercise = (session: McpSession.McpSession.Service) =>
  Effect.gen(function*() {
    const tools = (yield* session.listTools()).map((t) => t.name)
    for (const name of ["echo", "get-sum", "trigger-long-running-operation"]) {
      assert.include(tools, name)
    }
    const echo = yield* session.callTool({ name: "echo", arguments: { message: "hello" } })
    assert.deepStrictEqual(echo.content[0], { type: "text", text: "Echo: hello" })
    const sum = yield* session.callTool({ name: "get-sum", arguments: { a: 2, b: 3 } })
    assert.include(JSON.stringify(sum.content), "5")

    const progress: Array<Progress> = []
    const long = yield* session.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } },
      { onProgress: (p) => void progress.push(p) }
    )
    assert.include(JSON.stringify(long.content), "completed")
    assert.deepStrictEqual(progress.map((p) => p.progress), [1, 2, 3])

    const resources = yield* session.listResources()
    assert.isAbove(resources.length, 0)
    const read = yield* session.readResource({ uri: resources[0]!.uri })
    assert.isAbove(read.contents.length, 0)

    const prompts = (yield* session.listPrompts()).map((p) => p.name)
    assert.include(prompts, "simple-prompt")
    const prompt = yield* session.getPrompt({ name: "simple-prompt" })
    assert.isAbove(prompt.messages.length, 0)
  })

/** Starts a long call, kills the server by PID once the call is underway, returns the crash and its latency. */
const killMidCall = (session: McpSession.McpSession.Service, kill: Effect.Effect<void>) =>
  Effect.gen(function*() {
    let underway!: () => void
    const started = new Promise<void>((resolve) => (underway = resolve))
    const call = yield* session.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 20, steps: 200 } },
      { onProgress: () => underway(), timeout: "30 seconds" }
    ).pipe(Effect.exit, Effect.fork)
    yield* Effect.promise(() => started)
    const killedAt = performance.now()
    yield* kill
    const exit = yield* Fiber.join(call)
    return { crash: crashOf(exit), millis: performance.now() - killedAt }
  })

const open = <R>(transport: McpTransport.McpTransport<R>) =>
  McpSession.make({ transport, clientInfo, requestTimeout: "20 seconds" })

describe("server-everything", () => {
  it.scopedLive("Streamable HTTP: tools, progress, resources, prompts", () =>
    Effect.gen(function*() {
      const server = yield* startEverything("streamableHttp")
      const session = yield* open(NodeMcpTransport.streamableHttp({ url: server.url }))
      yield* exercise(session)
    }).pipe(Effect.provide(Env)))

  it.scopedLive("Streamable HTTP: SIGKILL mid-call is a typed crash within milliseconds", () =>
    Effect.gen(function*() {
      const server = yield* startEverything("streamableHttp")
      const session = yield* open(NodeMcpTransport.streamableHttp({ url: server.url }))
      const { crash, millis } = yield* killMidCall(session, server.kill("SIGKILL"))
      assert.strictEqual(crash.reason._tag, "ConnectionFailed")
      assert.strictEqual(crash.delivery, "MaybeDelivered")
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(Env)))

  it.scopedLive("legacy SSE: tools, progress, resources, prompts", () =>
    Effect.gen(function*() {
      const server = yield* startEverything("sse")
      const session = yield* open(NodeMcpTransport.sse({ url: server.url }))
      yield* exercise(session)
    }).pipe(Effect.provide(Env)))

  it.scopedLive("legacy SSE: SIGKILL mid-call is a typed crash; after a restart the old session fails typed", () =>
    Effect.gen(function*() {
      const server = yield* startEverything("sse")
      const session = yield* open(NodeMcpTransport.sse({ url: server.url }))
      const { crash, millis } = yield* killMidCall(session, server.kill("SIGKILL"))
      assert.strictEqual(crash.reason._tag, "StreamClosed")
      assert.isBelow(millis, 1000)

      // the same port again: the old session must not silently post to a new, uninitialized session
      const restarted = yield* startEverything("sse", server.port)
      const again = yield* timed(session.callTool({ name: "echo", arguments: { message: "x" } }))
      const afterRestart = crashOf(again.exit)
      assert.strictEqual(afterRestart.reason._tag, "StreamClosed")
      assert.strictEqual(afterRestart.delivery, "NotDelivered")
      assert.isBelow(again.millis, 1000)

      const fresh = yield* open(NodeMcpTransport.sse({ url: restarted.url }))
      const echo = yield* fresh.callTool({ name: "echo", arguments: { message: "again" } })
      assert.deepStrictEqual(echo.content[0], { type: "text", text: "Echo: again" })
    }).pipe(Effect.provide(Env)))

  it.scopedLive("stdio: tools, progress, resources, prompts; closing leaves no process", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const session = yield* open(NodeMcpTransport.stdio({ command: process.execPath, args: [serverEverything, "stdio"] }))
        .pipe(Scope.extend(scope))
      yield* exercise(session)
      const pids = childPids(serverEverything)
      assert.strictEqual(pids.length, 1)
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(isAlive(pids[0]!))
    }).pipe(Effect.provide(Env)))

  it.scopedLive("stdio: SIGKILL mid-call is ProcessExited with the signal, within milliseconds", () =>
    Effect.gen(function*() {
      const session = yield* open(NodeMcpTransport.stdio({ command: process.execPath, args: [serverEverything, "stdio"] }))
      const [pid] = childPids(serverEverything)
      assert.isDefined(pid)
      const { crash, millis } = yield* killMidCall(session, Effect.sync(() => process.kill(pid!, "SIGKILL")))
      assert.strictEqual(crash.reason._tag, "ProcessExited")
      if (crash.reason._tag === "ProcessExited") {
        assert.strictEqual(crash.reason.signal, "SIGKILL")
        assert.strictEqual(crash.reason.code, null)
      }
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(Env)))

  for (const mode of ["streamableHttp", "sse"] as const) {
    it.scopedLive(`${mode}: server restarted; a resilient session recreates its session and the next call succeeds`, () =>
      Effect.gen(function*() {
        const server = yield* startEverything(mode)
        const transport = mode === "sse"
          ? NodeMcpTransport.sse({ url: server.url })
          : NodeMcpTransport.streamableHttp({ url: server.url })
        const { session } = yield* McpSession.makeResilient(
          { transport, clientInfo, requestTimeout: "10 seconds" },
          McpSessionPolicy.make({
            reconnect: Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(100))),
            keepAlive: false
          })
        )
        yield* session.callTool({ name: "echo", arguments: { message: "before" } })
        yield* server.kill("SIGKILL")
        yield* startEverything(mode, server.port)
        const echo = yield* session.callTool({ name: "echo", arguments: { message: "after" } })
        assert.deepStrictEqual(echo.content[0], { type: "text", text: "Echo: after" })
      }).pipe(Logger.withMinimumLogLevel(LogLevel.Error), Effect.provide(Env)))
  }
})
