/**
 * The test kit itself: what its servers and faults promise, on `TestClock`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { McpError, McpSession, McpTest, McpTransport } from "../src/index.js"
import { eventually, failureOf, tick } from "./utils.js"

const clientInfo = { name: "test-client", version: "1.0.0" }

const faultySession = Effect.gen(function*() {
  const server = yield* McpTest.server()
  const { faults, transport } = yield* McpTest.faulty(server.transport)
  const session = yield* McpSession.make({ transport, clientInfo, requestTimeout: "30 seconds" })
  return { server, faults, session }
})

describe("McpTest", () => {
  it.scoped("delayIncoming keeps the server's order: progress, then the answer", () =>
    Effect.gen(function*() {
      const { faults, session } = yield* faultySession
      yield* faults.delayIncoming("100 millis")
      const seen: Array<number> = []
      const call = yield* Effect.fork(
        session.callTool({ name: "progress", arguments: { steps: 3 } }, { onProgress: (p) => void seen.push(p.progress) })
      )
      const streamed = yield* Effect.fork(
        Stream.runCollect(session.callToolStream({ name: "progress", arguments: { steps: 3 } }))
      )
      for (let i = 0; i < 20; i++) yield* tick
      assert.isNull(call.unsafePoll(), "answered before the delay")
      yield* TestClock.adjust("100 millis")
      const result = yield* Fiber.join(call)
      assert.deepStrictEqual(result.content[0], { type: "text", text: "done 3" })
      assert.deepStrictEqual(seen, [1, 2, 3])
      const events = [...(yield* Fiber.join(streamed))].map((event) => event._tag)
      assert.deepStrictEqual(events, ["Progress", "Progress", "Progress", "Result"])
    }))

  it.scoped("failPending fails a request whose answer was dropped or is still delayed", () =>
    Effect.gen(function*() {
      const { faults, session } = yield* faultySession
      const reason = new McpError.StreamClosed({ detail: "the stream ended" })
      // dropped
      yield* faults.dropIncoming(1)
      const dropped = yield* Effect.fork(session.callTool({ name: "echo", arguments: { message: "a" } }))
      yield* eventually(Effect.sync(() => dropped.unsafePoll() === null), (waiting) => waiting, 20)
      for (let i = 0; i < 20; i++) yield* tick
      yield* faults.failPending(reason)
      const error = failureOf(yield* Fiber.await(dropped)) as McpError.TransportCrashed
      assert.strictEqual(error._tag, "TransportCrashed")
      assert.deepStrictEqual(error.reason, reason)
      // delayed: failed, and its answer, when it falls due, is dropped
      yield* faults.delayIncoming("1 second")
      const delayed = yield* Effect.fork(session.callTool({ name: "echo", arguments: { message: "b" } }))
      for (let i = 0; i < 20; i++) yield* tick
      yield* faults.failPending(reason)
      assert.strictEqual(failureOf(yield* Fiber.await(delayed))._tag, "TransportCrashed")
      yield* TestClock.adjust("1 second")
      // the session goes on
      const after = yield* Effect.fork(session.ping())
      for (let i = 0; i < 20; i++) yield* tick
      yield* TestClock.adjust("1 second")
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(after)))
    }))

  it.scoped("release lets a block call answer that was sent before it, though the server's handler had not run yet", () =>
    Effect.gen(function*() {
      const server = yield* McpTest.server()
      let executionsAtRelease = -1
      // releases the moment a block call has been handed to the server, before its handler can start
      const releasing = McpTransport.make({
        description: "releases on send",
        open: (control) =>
          Effect.map(server.transport.open(control), (connection) => ({
            ...connection,
            send: (message) =>
              Effect.tap(connection.send(message), () => {
                if ("method" in message && message.method === "tools/call") {
                  executionsAtRelease = Effect.runSync(server.executions("block"))
                  Effect.runSync(server.release)
                }
              })
          }))
      })
      const session = yield* McpSession.make({ transport: releasing, clientInfo })
      const result = yield* session.callTool({ name: "block", arguments: {} })
      assert.deepStrictEqual(result.content[0], { type: "text", text: "released" })
      assert.strictEqual(executionsAtRelease, 0, "the handler ran before the release")
    }))

  it.scoped("a block call sent after a release waits for the next one", () =>
    Effect.gen(function*() {
      const server = yield* McpTest.server()
      const session = yield* McpSession.make({ transport: server.transport, clientInfo })
      yield* server.release
      const call = yield* Effect.fork(session.callTool({ name: "block", arguments: {} }))
      yield* eventually(server.executions("block"), (n) => n === 1)
      for (let i = 0; i < 20; i++) yield* tick
      assert.isTrue(Option.isNone(yield* Fiber.poll(call)))
      yield* server.release
      assert.deepStrictEqual((yield* Fiber.join(call)).content[0], { type: "text", text: "released" })
    }))
})
