/**
 * Permanent failures end a resilient session's first build at once under the default policy (one attempt,
 * no wait on the Clock); failures that may pass still follow the schedule. Real servers and processes on
 * 127.0.0.1, the policy's waits on the TestClock.
 */
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import { McpError, McpSession, McpSessionPolicy, type McpTransport } from "@effect-mcp/session"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import { scriptedServer } from "./fixtures/scriptedServer.js"
import { clientInfo, failureOf, freePort, httpClients, realSleep, stdioFixture, until } from "./utils.js"

const policy = McpSessionPolicy.make({ keepAlive: false })

const build = <R>(transport: McpTransport.McpTransport<R>) =>
  Effect.fork(McpSession.makeResilient({ transport, clientInfo }, policy))

/**
 * The build gave up by itself with the TestClock never moved (a backoff would wait on it for ever): after
 * one attempt; the reason it gave up on.
 */
const gaveUpAtOnce = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) =>
  Effect.gen(function*() {
    yield* until("the build to end with the Clock unmoved", Effect.sync(() => fiber.unsafePoll() !== null))
    const error = failureOf(fiber.unsafePoll()!)
    assert.isTrue(McpError.isGaveUp(error), String(error))
    const gaveUp = error as McpError.GaveUp
    assert.strictEqual(gaveUp.attempts, 1)
    assert.isTrue(McpError.isTransportCrashed(gaveUp.lastError), String(gaveUp.lastError))
    return (gaveUp.lastError as McpError.TransportCrashed).reason
  })

/** The build failed and did not give up: it waits on the Clock for its next attempt. */
const backingOff = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) =>
  Effect.gen(function*() {
    yield* until("a wait on the Clock", Effect.map(TestClock.sleeps(), (sleeps) => Chunk.size(sleeps) > 0))
    yield* realSleep(200)
    assert.isNull(fiber.unsafePoll(), "gave up")
  })

describe.each(httpClients)("permanent failures over Streamable HTTP ($name)", (client) => {
  it.scoped("a wrong URL (404 before any answer): GaveUp after one attempt, no backoff", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const url = server.url.replace(/\/mcp$/, "/missing")
      const reason = yield* gaveUpAtOnce(yield* build(NodeMcpTransport.streamableHttp({ url })))
      assert.deepStrictEqual(reason, new McpError.HttpStatus({ status: 404, method: "POST", body: "Cannot POST /missing", initial: true }))
      assert.isFalse(reason.retryable)
      assert.strictEqual(server.requests.filter((r) => r.path === "/missing").length, 1)
    }).pipe(Effect.provide(client.layer)))

  it.scoped("503: backs off on the Clock and tries again", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const url = server.url.replace(/\/mcp$/, "/busy")
      const posts = () => server.requests.filter((r) => r.path === "/busy" && r.method === "POST").length
      const fiber = yield* build(NodeMcpTransport.streamableHttp({ url }))
      yield* until("the first attempt", Effect.sync(() => posts() === 1))
      yield* backingOff(fiber)
      assert.strictEqual(posts(), 1)
      yield* until("a second attempt", Effect.zipRight(TestClock.adjust("1 second"), Effect.sync(() => posts() >= 2)))
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(client.layer)))

  it.scoped("connection refused: backs off on the Clock", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const fiber = yield* build(NodeMcpTransport.streamableHttp({ url: `http://127.0.0.1:${port}/mcp` }))
      yield* backingOff(fiber)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(client.layer)))
})

describe("permanent failures over stdio", () => {
  it.scoped("a missing command: GaveUp after one attempt, no backoff", () =>
    Effect.gen(function*() {
      const reason = yield* gaveUpAtOnce(yield* build(NodeMcpTransport.stdio({ command: "/nonexistent/effect-mcp-server" })))
      assert.strictEqual(reason._tag, "SpawnFailed")
      if (reason._tag === "SpawnFailed") assert.strictEqual(reason.code, "ENOENT")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("a file that may not be run (EACCES): GaveUp after one attempt", () =>
    Effect.gen(function*() {
      // the fixture is a script without the execute bit
      const reason = yield* gaveUpAtOnce(yield* build(NodeMcpTransport.stdio({ command: stdioFixture })))
      assert.strictEqual(reason._tag, "SpawnFailed")
      if (reason._tag === "SpawnFailed") assert.strictEqual(reason.code, "EACCES")
    }).pipe(Effect.provide(NodeContext.layer)))
})
