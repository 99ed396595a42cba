import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { McpError, McpMetrics, McpSession, McpTest, McpTransport } from "../src/index.js"
import {
  eventually,
  failureOf,
  initializeResult,
  liveLikeClock,
  maxTimerMillis,
  scripted,
  scriptedSdk,
  tick,
  tracking,
  unhandledRejections
} from "./utils.js"

const clientInfo = { name: "test-client", version: "1.0.0" }


/** Whether the session's transport is still alive: its `await` has not completed. */
const isAlive = (session: McpSession.McpSession.Service) =>
  Effect.gen(function*() {
    const death = yield* Effect.fork(session.await)
    yield* tick
    const alive = Option.isNone(yield* Fiber.poll(death))
    yield* Fiber.interrupt(death)
    return alive
  })

const setup = (options?: McpTest.ServerOptions) =>
  Effect.gen(function*() {
    const server = yield* McpTest.server(options)
    const { faults, transport } = yield* McpTest.faulty(server.transport)
    const session = yield* McpSession.make({ transport, clientInfo })
    return { server, faults, session }
  })

describe("McpSession", () => {
  describe("requests", () => {
    it.scoped("initializes and exposes the server", () =>
      Effect.gen(function*() {
        const { session } = yield* setup({ name: "srv", instructions: "be nice" })
        assert.strictEqual(session.serverInfo.name, "srv")
        assert.deepStrictEqual(session.instructions, Option.some("be nice"))
        assert.isDefined(session.serverCapabilities.tools)
        assert.strictEqual(session.transport, "srv")
      }))

    it.scoped("callTool answers, and the caller's _meta reaches the server as it was", () =>
      Effect.gen(function*() {
        const { server, session } = yield* setup()
        const result = yield* session.callTool({ name: "echo", arguments: { message: "hi" }, _meta: { user: "x" } })
        assert.deepStrictEqual(result.content, [{ type: "text", text: "Echo: hi" }])
        const sum = yield* session.callTool({ name: "add", arguments: { a: 2, b: 3 } })
        assert.deepStrictEqual(sum.structuredContent, { sum: 5 })
        const metas = yield* server.metas
        assert.strictEqual(metas.length, 1)
        assert.deepStrictEqual(metas[0], { user: "x" })
      }))

    it.scoped("lists, reads, prompts, completes, sets the logging level and pings", () =>
      Effect.gen(function*() {
        const { session } = yield* setup()
        const tools = yield* session.listTools()
        assert.includeMembers(tools.map((t) => t.name), ["echo", "add", "increment", "block", "progress"])
        const resources = yield* session.listResources()
        assert.deepStrictEqual(resources.map((r) => r.uri), ["test://static"])
        const templates = yield* session.listResourceTemplates()
        assert.deepStrictEqual(templates.map((t) => t.uriTemplate), ["test://items/{id}"])
        const read = yield* session.readResource({ uri: "test://items/7" })
        assert.deepStrictEqual(read.contents.map((c) => (c as { text: string }).text), ["item 7"])
        const prompts = yield* session.listPrompts()
        assert.deepStrictEqual(prompts.map((p) => p.name), ["greet"])
        const prompt = yield* session.getPrompt({ name: "greet", arguments: { name: "Ada" } })
        assert.deepStrictEqual(prompt.messages[0].content, { type: "text", text: "Hello, Ada!" })
        const completion = yield* session.complete({
          ref: { type: "ref/prompt", name: "greet" },
          argument: { name: "name", value: "A" }
        })
        assert.deepStrictEqual(completion.completion.values, ["Ada", "Alan"])
        yield* session.setLoggingLevel("debug")
        yield* session.ping()
      }))

    it.scoped("delivers server notifications as a stream", () =>
      Effect.gen(function*() {
        const { session } = yield* setup()
        const collected = yield* session.notifications.pipe(Stream.take(1), Stream.runCollect, Effect.fork)
        yield* tick
        yield* session.callTool({ name: "log", arguments: { message: "hello" } })
        const [notification] = Chunk.toReadonlyArray(yield* Fiber.join(collected))
        assert.strictEqual(notification.method, "notifications/message")
        assert.strictEqual((notification.params as { data: unknown }).data, "hello")
      }))

    it.scoped("follows every page of a listing, and bounds the number of pages", () =>
      Effect.gen(function*() {
        const pages = (endless: boolean) =>
          scripted((msg, reply) => {
            if (msg.method !== "tools/list") return
            const page = Number(msg.params?.cursor ?? 0)
            reply({
              jsonrpc: "2.0",
              id: msg.id!,
              result: {
                tools: [{ name: `tool-${page}`, inputSchema: { type: "object" } }],
                ...(endless || page < 2 ? { nextCursor: String(page + 1) } : {})
              }
            })
          })
        const finite = yield* McpSession.make({ transport: pages(false), clientInfo })
        const tools = yield* finite.listTools()
        assert.deepStrictEqual(tools.map((t) => t.name), ["tool-0", "tool-1", "tool-2"])
        const endless = yield* McpSession.make({ transport: pages(true), clientInfo, maxPages: 5 })
        const error = failureOf(yield* Effect.exit(endless.listTools()))
        assert.isTrue(McpError.isProtocolError(error))
      }))

    it.scoped("a page of 200,000 items is listed whole (no spread into one call's arguments)", () =>
      Effect.gen(function*() {
        const count = 200_000
        const session = yield* McpSession.make({
          transport: scripted((msg, reply) => {
            if (msg.method !== "tools/list") return
            const tools = Array.from({ length: count }, (_, i) => ({ name: `t${i}`, inputSchema: { type: "object" } }))
            reply({ jsonrpc: "2.0", id: msg.id!, result: { tools } })
          }),
          clientInfo
        })
        const tools = yield* session.listTools()
        assert.strictEqual(tools.length, count)
        assert.strictEqual(tools[count - 1].name, `t${count - 1}`)
      }), 60_000)

    it.scoped("every request is counted and timed under the caller's metric tags", () =>
      Effect.gen(function*() {
        const { faults, session } = yield* setup()
        // the session's own tags first, then the caller's
        const requests = Metric.tagged(Metric.tagged(McpMetrics.requests, "method", "tools/call"), "tenant", "t1")
        const latency = Metric.tagged(Metric.tagged(McpMetrics.latency, "method", "tools/call"), "tenant", "t1")
        const failures = Metric.tagged(
          Metric.tagged(Metric.tagged(McpMetrics.failures, "method", "tools/call"), "error", "HttpStatus"),
          "tenant",
          "t1"
        )
        yield* session.callTool({ name: "echo", arguments: { message: "a" } }).pipe(Effect.tagMetrics("tenant", "t1"))
        yield* faults.failNextSends(new McpError.HttpStatus({ status: 403, method: "POST", body: "" }))
        yield* Effect.exit(session.callTool({ name: "echo", arguments: { message: "b" } })).pipe(
          Effect.tagMetrics("tenant", "t1")
        )
        assert.strictEqual((yield* Metric.value(requests)).count, 2)
        // latency is of answered requests
        assert.strictEqual((yield* Metric.value(latency)).count, 1)
        assert.strictEqual((yield* Metric.value(failures)).count, 1)
      }))

    it.scoped("a tool's error result the caller fails on, and an error answer, are failures, timed as answered", () =>
      Effect.gen(function*() {
        const { session } = yield* setup()
        // the session's own tags first, then the caller's
        const tagged = <M extends Metric.Metric<any, any, any>>(metric: M, method: string) =>
          Metric.tagged(Metric.tagged(metric, "method", method), "tenant", "t-errors")
        const failed = (method: string, error: string) =>
          Metric.tagged(Metric.tagged(Metric.tagged(McpMetrics.failures, "method", method), "error", error), "tenant", "t-errors")
        const toolError = failureOf(
          yield* Effect.exit(
            session.callTool({ name: "fail", arguments: { message: "no" } }, { toolErrors: "fail" }).pipe(
              Effect.tagMetrics("tenant", "t-errors")
            )
          )
        )
        assert.strictEqual(toolError._tag, "ToolError")
        const protocolError = failureOf(
          yield* Effect.exit(session.getPrompt({ name: "nope" }).pipe(Effect.tagMetrics("tenant", "t-errors")))
        )
        assert.strictEqual(protocolError._tag, "ProtocolError")
        assert.strictEqual((yield* Metric.value(failed("tools/call", "ToolError"))).count, 1)
        assert.strictEqual((yield* Metric.value(failed("prompts/get", "ProtocolError"))).count, 1)
        assert.strictEqual((yield* Metric.value(tagged(McpMetrics.latency, "tools/call"))).count, 1)
        assert.strictEqual((yield* Metric.value(tagged(McpMetrics.latency, "prompts/get"))).count, 1)
      }))

    it.effect("the scope's close is no transport crash in the metrics; a peer hanging up is one", () =>
      Effect.gen(function*() {
        const closed = Metric.tagged(McpMetrics.crashes, "reason", "Closed")
        const before = (yield* Metric.value(closed)).count
        yield* Effect.scoped(Effect.gen(function*() {
          const server = yield* McpTest.server()
          const session = yield* McpSession.make({ transport: server.transport, clientInfo })
          yield* session.ping()
        }))
        for (let i = 0; i < 10; i++) yield* tick
        assert.strictEqual((yield* Metric.value(closed)).count, before)
        yield* Effect.scoped(Effect.gen(function*() {
          const server = yield* McpTest.server()
          const { faults, transport } = yield* McpTest.faulty(server.transport)
          const session = yield* McpSession.make({ transport, clientInfo })
          yield* faults.close
          yield* Effect.exit(session.await)
        }))
        for (let i = 0; i < 10; i++) yield* tick
        assert.strictEqual((yield* Metric.value(closed)).count, before + 1)
      }))

    it("callToolStream takes no replay option: a stream is never replayed (a type error, not a silent no-op)", () => {
      const streamOptions: McpSession.CallToolStreamOptions = {
        toolErrors: "fail",
        // @ts-expect-error: `replay` is an option of `callTool` only
        replay: "Always"
      }
      const callOptions: McpSession.CallToolOptions = { replay: "Always" }
      assert.strictEqual(streamOptions.toolErrors, "fail")
      assert.strictEqual(callOptions.replay, "Always")
    })

    it.effect("layerConfig reads the options from Config; a missing setting fails the layer with its ConfigError", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const { faults, transport } = yield* McpTest.faulty(server.transport)
        const options = {
          transport: Config.succeed(transport),
          clientInfo: Config.succeed(clientInfo),
          requestTimeout: Config.duration("MCP_REQUEST_TIMEOUT")
        }
        const provider = ConfigProvider.fromMap(new Map([["MCP_REQUEST_TIMEOUT", "3 seconds"]]))
        yield* Effect.scoped(Effect.gen(function*() {
          const session = yield* McpSession.McpSession
          yield* faults.blackHole(true)
          const ping = yield* Effect.fork(session.ping())
          for (let i = 0; i < 10; i++) yield* tick
          yield* TestClock.adjust("2999 millis")
          assert.isNull(ping.unsafePoll())
          yield* TestClock.adjust("1 milli")
          const error = failureOf(yield* Fiber.await(ping)) as McpError.RequestTimeout
          assert.strictEqual(error._tag, "RequestTimeout")
          assert.strictEqual(error.timeoutMillis, 3000)
        }).pipe(Effect.provide(McpSession.layerConfig(options)), Effect.withConfigProvider(provider)))
        const empty = ConfigProvider.fromMap(new Map())
        const layers: ReadonlyArray<Layer.Layer<McpSession.McpSession, unknown>> = [
          McpSession.layerConfig(options),
          McpSession.layerResilientConfig(options)
        ]
        for (const live of layers) {
          const missing = failureOf(
            yield* Effect.exit(
              Effect.scoped(Layer.build(live)).pipe(Effect.withConfigProvider(empty))
            )
          )
          assert.isTrue(ConfigError.isConfigError(missing), String(missing))
          assert.include(String(missing), "MCP_REQUEST_TIMEOUT")
        }
      }))

    it.scoped("each caller's metric tags get their own counts, however the calls interleave", () =>
      Effect.gen(function*() {
        const { session } = yield* setup()
        const of = <M extends Metric.Metric<any, any, any>>(metric: M, tenant?: string) => {
          const tagged = Metric.tagged(metric, "method", "tools/call")
          return tenant === undefined ? tagged : Metric.tagged(tagged, "tenant", tenant)
        }
        const untaggedBefore = (yield* Metric.value(of(McpMetrics.requests))).count
        const call = (message: string) => session.callTool({ name: "echo", arguments: { message } })
        for (let i = 0; i < 3; i++) {
          yield* call("a").pipe(Effect.tagMetrics("tenant", "t2"))
          yield* call("b").pipe(Effect.tagMetrics("tenant", "t3"))
          yield* call("c").pipe(Effect.tagMetrics("tenant", "t2"))
        }
        yield* call("d")
        assert.strictEqual((yield* Metric.value(of(McpMetrics.requests, "t2"))).count, 6)
        assert.strictEqual((yield* Metric.value(of(McpMetrics.requests, "t3"))).count, 3)
        assert.strictEqual((yield* Metric.value(of(McpMetrics.latency, "t2"))).count, 6)
        assert.strictEqual((yield* Metric.value(of(McpMetrics.latency, "t3"))).count, 3)
        assert.strictEqual((yield* Metric.value(of(McpMetrics.requests))).count - untaggedBefore, 1)
      }))

    it.scoped("maps JSON-RPC errors and invalid results to ProtocolError", () =>
      Effect.gen(function*() {
        const { session } = yield* setup()
        const unknownPrompt = failureOf(yield* Effect.exit(session.getPrompt({ name: "nope" })))
        assert.strictEqual(unknownPrompt._tag, "ProtocolError")
        assert.strictEqual((unknownPrompt as McpError.ProtocolError).method, "prompts/get")

        const broken = yield* McpSession.make({
          transport: scripted((msg, reply) => reply({ jsonrpc: "2.0", id: msg.id!, result: { tools: "not a list" } })),
          clientInfo
        })
        const invalid = failureOf(yield* Effect.exit(broken.listTools()))
        assert.strictEqual(invalid._tag, "ProtocolError")
        assert.match((invalid as McpError.ProtocolError).detail, /invalid result/)
      }))

    it.scoped("listToolsWithCache: the shortest ttlMs of the pages, private if any page is; none when the server says nothing", () =>
      Effect.gen(function*() {
        const session = yield* McpSession.make({
          transport: scripted((msg, reply) => {
            if (msg.method !== "tools/list") return
            const tool = (name: string) => ({ name, inputSchema: { type: "object" } })
            reply({
              jsonrpc: "2.0",
              id: msg.id!,
              result: msg.params?.cursor === undefined
                ? { tools: [tool("a")], nextCursor: "2", ttlMs: 5000, cacheScope: "public" }
                : { tools: [tool("b")], ttlMs: 2000, cacheScope: "private" }
            })
          }),
          clientInfo
        })
        const listing = yield* session.listToolsWithCache()
        assert.deepStrictEqual(listing.tools.map((t) => t.name), ["a", "b"])
        assert.deepStrictEqual(listing.cache, Option.some({ ttlMillis: 2000, scope: "private" as const }))
        const { session: plain } = yield* setup()
        assert.isTrue(Option.isNone((yield* plain.listToolsWithCache()).cache))
      }))

    it.scoped("a tool's structured result is checked against its output schema once the tools are listed", () =>
      Effect.gen(function*() {
        const session = yield* McpSession.make({
          transport: scripted((msg, reply) => {
            if (msg.method === "tools/list") {
              return reply({
                jsonrpc: "2.0",
                id: msg.id!,
                result: {
                  tools: [{
                    name: "count",
                    inputSchema: { type: "object" },
                    outputSchema: { type: "object", properties: { n: { type: "number" } }, required: ["n"] }
                  }]
                }
              })
            }
            const n = msg.params?.arguments?.n
            reply({ jsonrpc: "2.0", id: msg.id!, result: { content: [], structuredContent: { n } } })
          }),
          clientInfo
        })
        yield* session.listTools()
        const ok = yield* session.callTool({ name: "count", arguments: { n: 3 } })
        assert.deepStrictEqual(ok.structuredContent, { n: 3 })
        const invalid = failureOf(yield* Effect.exit(session.callTool({ name: "count", arguments: { n: "three" } })))
        assert.strictEqual(invalid._tag, "ProtocolError")
        assert.match((invalid as McpError.ProtocolError).detail, /output schema/)
      }))

    it.scoped("returns tool errors as results, or fails with ToolError on request", () =>
      Effect.gen(function*() {
        const { session } = yield* setup()
        const result = yield* session.callTool({ name: "fail", arguments: { message: "boom" } })
        assert.isTrue(result.isError)
        const error = failureOf(
          yield* Effect.exit(session.callTool({ name: "fail", arguments: { message: "boom" } }, { toolErrors: "fail" }))
        )
        assert.isTrue(McpError.isToolError(error))
        assert.strictEqual((error as McpError.ToolError).detail, "boom")
      }))
  })

  describe("transport death", () => {
    it.scoped("answers that came before the death are the callers', even when it is reported in the same tick", () =>
      Effect.gen(function*() {
        // the server answers two calls and dies in one go, as a stdio child whose last answers and stdout's
        // end are read together; a third call is never answered
        let control: McpTransport.McpTransport.Control | undefined
        const answers: Array<() => void> = []
        const inner = scripted((msg, reply) => {
          if (msg.method !== "tools/call") return
          const name = msg.params.name as string
          if (name === "echo") {
            answers.push(() => reply({ jsonrpc: "2.0", id: msg.id!, result: { content: [{ type: "text", text: "last" }] } }))
          } else if (name === "refuse") {
            answers.push(() => reply({ jsonrpc: "2.0", id: msg.id!, error: { code: -32602, message: "no such thing" } }))
          }
        })
        const transport = McpTransport.make({
          description: "answers, then dies",
          open: (c) => Effect.suspend(() => {
            control = c
            return inner.open(c)
          })
        })
        const session = yield* McpSession.make({ transport, clientInfo })
        const echo = yield* Effect.fork(Effect.exit(session.callTool({ name: "echo", arguments: {} })))
        const refused = yield* Effect.fork(Effect.exit(session.callTool({ name: "refuse", arguments: {} })))
        const unanswered = yield* Effect.fork(Effect.exit(session.callTool({ name: "hang", arguments: {} })))
        yield* eventually(Effect.sync(() => answers.length), (n) => n === 2)
        for (const answer of answers) answer()
        control!.crash(new McpError.Closed({ detail: "gone" }))

        const echoed = yield* Fiber.join(echo)
        assert.isTrue(Exit.isSuccess(echoed), "the answer was lost to the death")
        if (Exit.isSuccess(echoed)) assert.deepStrictEqual(echoed.value.content, [{ type: "text", text: "last" }])
        const refusal = failureOf(yield* Fiber.join(refused))
        assert.strictEqual(refusal._tag, "ProtocolError")
        const crash = failureOf(yield* Fiber.join(unanswered))
        assert.isTrue(McpError.isTransportCrashed(crash))
        assert.strictEqual((crash as McpError.TransportCrashed).delivery, "MaybeDelivered")
      }))

    it.live("the crash a caller keeps does not keep the dead transport reachable", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        // a transport whose peer the test can hang up on without holding it
        let peer: WeakRef<McpTransport.McpTransport.Control> | undefined
        const tracked = tracking(McpTransport.make({
          description: "hangs up on request",
          open: (control) =>
            Effect.tap(server.transport.open(control), () =>
              Effect.sync(() => {
                peer = new WeakRef(control)
              }))
        }))
        const kept = yield* Effect.scoped(Effect.gen(function*() {
          const session = yield* McpSession.make({ transport: tracked.transport, clientInfo })
          yield* session.callTool({ name: "echo", arguments: { message: "before" } })
          // as the peer closing
          peer?.deref()?.crash(new McpError.Closed({ detail: "closed by the transport" }))
          // kept as they come (not rendered: rendering reads the stack)
          const death = yield* Effect.flip(session.await)
          const call = yield* Effect.flip(session.callTool({ name: "echo", arguments: { message: "after" } }))
          return [death, call]
        }))
        // an error's captured stack trace holds the receivers of its frames (the dead transport's supervisor)
        // until its stack is read
        const reachable = yield* tracked.reachable(0)
        assert.strictEqual(tracked.opened(), 1)
        assert.strictEqual(reachable, 0, "the dead transport is still reachable")
        assert.deepStrictEqual(kept.map((error) => error._tag), ["TransportCrashed", "TransportCrashed"])
      }))

    it.scoped("a crash fails every pending call at once with the reason", () =>
      Effect.gen(function*() {
        const { faults, server, session } = yield* setup()
        const calls = yield* Effect.forEach([1, 2, 3], () => Effect.fork(session.callTool({ name: "block" })))
        yield* eventually(server.executions("block"), (n) => n === 3)
        const reason = new McpError.ProcessExited({ code: 137, signal: "SIGKILL", stderrTail: "bye" })
        yield* faults.crash(reason)
        for (const call of calls) {
          const error = failureOf(yield* Fiber.await(call))
          assert.isTrue(McpError.isTransportCrashed(error))
          const crashed = error as McpError.TransportCrashed
          assert.deepStrictEqual(crashed.reason, reason)
          assert.strictEqual(crashed.delivery, "MaybeDelivered")
        }
        const death = failureOf(yield* Effect.exit(session.await)) as McpError.TransportCrashed
        assert.deepStrictEqual(death.reason, reason)
        // a call after the death is refused at once, and provably not delivered
        const later = failureOf(yield* Effect.exit(session.ping())) as McpError.TransportCrashed
        assert.strictEqual(later._tag, "TransportCrashed")
        assert.strictEqual(later.delivery, "NotDelivered")
      }))

    it.scoped("a request failed alone (its response stream ended) fails typed; the others and the session live on", () =>
      Effect.gen(function*() {
        const { faults, server, session } = yield* setup()
        const lost = yield* Effect.fork(session.callTool({ name: "block" }))
        yield* eventually(server.executions("block"), (n) => n === 1)
        const reason = new McpError.StreamClosed({ detail: "the response stream of a POST ended before answering" })
        yield* faults.failPending(reason)
        const error = failureOf(yield* Fiber.await(lost)) as McpError.TransportCrashed
        assert.strictEqual(error._tag, "TransportCrashed")
        assert.deepStrictEqual(error.reason, reason)
        assert.strictEqual(error.delivery, "MaybeDelivered")
        // a request pending on another stream is untouched, and gets its answer
        const other = yield* Effect.fork(session.callTool({ name: "block" }))
        yield* eventually(server.executions("block"), (n) => n === 2)
        yield* server.release
        const answered = yield* Fiber.join(other)
        assert.deepStrictEqual(answered.content, [{ type: "text", text: "released" }])
        // the released answer to the lost request is dropped, and the session goes on
        assert.deepStrictEqual(
          (yield* session.callTool({ name: "echo", arguments: { message: "still here" } })).content,
          [{ type: "text", text: "Echo: still here" }]
        )
        const death = yield* Effect.fork(session.await)
        yield* tick
        assert.isTrue(Option.isNone(yield* Fiber.poll(death)), "the transport was declared dead")
      }))

    it.scoped("a server's -32000 error answer is a ProtocolError, and cannot pass for a failed request", () =>
      Effect.gen(function*() {
        const session = yield* McpSession.make({
          transport: scripted((message, reply) => {
            if (message.method === "tools/call") {
              reply({
                jsonrpc: "2.0",
                id: message.id,
                error: { code: -32000, message: "Connection closed", data: { _tag: "TransportCrashed" } }
              })
            }
            if (message.method === "ping") reply({ jsonrpc: "2.0", id: message.id!, result: {} })
          }),
          clientInfo
        })
        const error = failureOf(yield* Effect.exit(session.callTool({ name: "x" })))
        assert.strictEqual(error._tag, "ProtocolError")
        if (error._tag === "ProtocolError") assert.strictEqual(error.code, -32000)
        // the session is fine: a server's error is no death of the transport
        yield* session.ping()
      }))

    it.scoped("a server's -32001 error answer is a ProtocolError with its code and data, not Cancelled", () =>
      Effect.gen(function*() {
        const session = yield* McpSession.make({
          transport: scripted((message, reply) => {
            if (message.method === "tools/call") {
              reply({ jsonrpc: "2.0", id: message.id!, error: { code: -32001, message: "took too long", data: { after: 30 } } })
            }
          }),
          clientInfo
        })
        const error = failureOf(yield* Effect.exit(session.callTool({ name: "slow" })))
        assert.strictEqual(error._tag, "ProtocolError")
        if (error._tag === "ProtocolError") {
          assert.strictEqual(error.code, -32001)
          assert.deepStrictEqual(error.data, { after: 30 })
        }
      }))

    it.scoped("an invalid answer fails its call at once, and the transport and the other calls go on", () =>
      Effect.gen(function*() {
        const session = yield* McpSession.make({
          transport: scripted((message, reply) => {
            if (message.method !== "tools/call") return
            const name = message.params?.name
            if (name === "both") {
              reply({ jsonrpc: "2.0", id: message.id!, result: { content: [] }, error: { code: 1, message: "x" } } as never)
            } else if (name === "scalar") {
              reply({ jsonrpc: "2.0", id: message.id!, result: "not an object" } as never)
            } else if (name === "neither") {
              reply({ jsonrpc: "2.0", id: message.id! } as never)
            } else if (name === "bad-error") {
              reply({ jsonrpc: "2.0", id: message.id!, error: { message: "no code" } } as never)
            } else {
              reply({ jsonrpc: "2.0", id: message.id!, result: { content: [{ type: "text", text: "fine" }] } })
            }
          }),
          clientInfo
        })
        for (const name of ["both", "scalar", "neither", "bad-error"]) {
          const error = failureOf(yield* Effect.exit(session.callTool({ name })))
          assert.strictEqual(error._tag, "ProtocolError", `${name}: ${String(error)}`)
          assert.match((error as McpError.ProtocolError).detail, /^invalid answer/)
        }
        const fine = yield* session.callTool({ name: "fine" })
        assert.deepStrictEqual(fine.content, [{ type: "text", text: "fine" }])
      }))

    it.scoped("a peer closing the transport is a Closed crash", () =>
      Effect.gen(function*() {
        const { faults, server, session } = yield* setup()
        const call = yield* Effect.fork(session.callTool({ name: "block" }))
        yield* eventually(server.executions("block"), (n) => n === 1)
        yield* faults.close
        const error = failureOf(yield* Fiber.await(call)) as McpError.TransportCrashed
        assert.strictEqual(error.reason._tag, "Closed")
      }))

    it.scoped("the notifications stream fails with the crash", () =>
      Effect.gen(function*() {
        const { faults, session } = yield* setup()
        const stream = yield* Effect.fork(Stream.runDrain(session.notifications))
        yield* tick
        yield* faults.crash(new McpError.StreamClosed({ detail: "cut" }))
        const error = failureOf(yield* Fiber.await(stream)) as McpError.TransportCrashed
        assert.strictEqual(error.reason._tag, "StreamClosed")
      }))

    it.scoped("a send that fails crashes the transport, and marks the request by what the reason proves", () =>
      Effect.gen(function*() {
        const rejecting = (reason: McpError.TransportCrashedReason) =>
          McpSession.make({
            transport: McpTransport.fromSdk({
              description: "rejecting",
              acquire: Effect.sync(() => {
                const transport = scriptedSdk(() => {})
                return {
                  start: () => transport.start(),
                  close: () => transport.close(),
                  send: (message: any) =>
                    message.method === "tools/call" ? Promise.reject(new Error("403")) : transport.send(message),
                  set onmessage(f: any) {
                    transport.onmessage = f
                  },
                  set onclose(f: any) {
                    transport.onclose = f
                  },
                  set onerror(f: any) {
                    transport.onerror = f
                  }
                }
              }),
              classify: () => reason
            }),
            clientInfo
          })
        const forbidden = yield* rejecting(new McpError.HttpStatus({ status: 403, method: "POST", body: "no" }))
        const notDelivered = failureOf(yield* Effect.exit(forbidden.callTool({ name: "x" }))) as McpError.TransportCrashed
        assert.strictEqual(notDelivered.delivery, "NotDelivered")
        assert.strictEqual(notDelivered.reason._tag, "HttpStatus")
        const serverError = yield* rejecting(new McpError.HttpStatus({ status: 500, method: "POST", body: "oops" }))
        const maybe = failureOf(yield* Effect.exit(serverError.callTool({ name: "x" }))) as McpError.TransportCrashed
        assert.strictEqual(maybe.delivery, "MaybeDelivered")
      }))

    it.effect("closing the scope fails pending calls, closes the transport, and leaves nothing open", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const scope = yield* Scope.make()
        const session = yield* McpSession.make({ transport: server.transport, clientInfo }).pipe(Scope.extend(scope))
        const call = yield* Effect.fork(session.callTool({ name: "block" }))
        yield* eventually(server.executions("block"), (n) => n === 1)
        assert.strictEqual(yield* server.live, 1)
        yield* Scope.close(scope, Exit.void)
        const error = failureOf(yield* Fiber.await(call)) as McpError.TransportCrashed
        assert.strictEqual(error.reason._tag, "Closed")
        assert.strictEqual(yield* server.live, 0)
        // the server side saw the transport go: its handler was aborted
        yield* eventually(server.cancellations, (c) => c.length === 1)
      }))
  })

  describe("time", () => {
    it.scoped("a request that gets no answer times out on the Clock", () =>
      Effect.gen(function*() {
        const { faults, session } = yield* setup()
        yield* faults.blackHole(true)
        const call = yield* Effect.fork(session.callTool({ name: "echo", arguments: { message: "x" } }, { timeout: "5 seconds" }))
        yield* TestClock.adjust("4999 millis")
        assert.isNull(call.unsafePoll())
        yield* TestClock.adjust("1 milli")
        const error = failureOf(yield* Fiber.await(call))
        assert.isTrue(McpError.isRequestTimeout(error))
        assert.strictEqual((error as McpError.RequestTimeout).timeoutMillis, 5000)
        assert.strictEqual((error as McpError.RequestTimeout).target, "echo")
      }))

    it.scoped("pending requests share one timer on the Clock, and each times out at its own deadline", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const { faults, transport } = yield* McpTest.faulty(server.transport)
        // TestClock lists every sleep until its time has passed, interrupted ones included
        const sleeps = Effect.map(TestClock.sleeps(), Chunk.size)
        const before = yield* sleeps
        const session = yield* McpSession.make({ transport, clientInfo, requestTimeout: "10 seconds" })
        yield* faults.blackHole(true)
        const calls = yield* Effect.forEach(Array.from({ length: 20 }), () => Effect.fork(session.ping()))
        const listing = yield* Effect.fork(Effect.asVoid(session.listTools()))
        yield* tick
        // the timer set for initialize's deadline serves the requests' later deadlines too
        assert.strictEqual((yield* sleeps) - before, 1, "one sleep for initialize and twenty-one requests")
        // a shorter timeout moves the timer, a longer one leaves it
        const short = yield* Effect.fork(session.ping({ timeout: "2 seconds" }))
        const long = yield* Effect.fork(session.ping({ timeout: "30 seconds" }))
        yield* tick
        assert.strictEqual((yield* sleeps) - before, 2)
        yield* TestClock.adjust("1999 millis")
        assert.isNull(short.unsafePoll())
        yield* TestClock.adjust("1 milli")
        const shortError = failureOf(yield* Fiber.await(short)) as McpError.RequestTimeout
        assert.strictEqual(shortError._tag, "RequestTimeout")
        assert.strictEqual(shortError.timeoutMillis, 2000)
        assert.isTrue([...calls, listing].every((call) => call.unsafePoll() === null))
        yield* TestClock.adjust("7999 millis")
        assert.isTrue([...calls, listing].every((call) => call.unsafePoll() === null))
        yield* TestClock.adjust("1 milli")
        for (const call of [...calls, listing]) {
          const error = failureOf(yield* Fiber.await(call)) as McpError.RequestTimeout
          assert.strictEqual(error._tag, "RequestTimeout")
          assert.strictEqual(error.timeoutMillis, 10_000)
        }
        assert.isNull(long.unsafePoll())
        yield* TestClock.adjust("20 seconds")
        assert.strictEqual((failureOf(yield* Fiber.await(long)) as McpError.RequestTimeout).timeoutMillis, 30_000)
        // each timeout cancelled its request
        const sent = (yield* faults.sent) as ReadonlyArray<{ readonly method?: string }>
        assert.strictEqual(sent.filter((m) => m.method === "notifications/cancelled").length, 23)
      }))

    it.scoped("a request that settles before its deadline leaves no timeout behind", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const { faults, transport } = yield* McpTest.faulty(server.transport)
        const session = yield* McpSession.make({ transport, clientInfo, requestTimeout: "5 seconds" })
        yield* session.ping()
        yield* faults.blackHole(true)
        const interrupted = yield* Effect.fork(session.ping())
        yield* tick
        yield* Fiber.interrupt(interrupted)
        const waiting = yield* Effect.fork(session.ping({ timeout: "10 seconds" }))
        yield* tick
        // the answered ping's and the interrupted one's deadlines pass: only the waiting call is still owed
        yield* TestClock.adjust("6 seconds")
        assert.isNull(waiting.unsafePoll())
        yield* TestClock.adjust("4 seconds")
        assert.strictEqual(failureOf(yield* Fiber.await(waiting))._tag, "RequestTimeout")
      }))

    it.scoped("a listing is bounded as a whole: its pages share the timeout", () =>
      Effect.gen(function*() {
        const { faults, transport } = yield* McpTest.faulty(scripted((msg, reply) => {
          if (msg.method !== "tools/list") return
          const page = Number(msg.params?.cursor ?? 0)
          reply({
            jsonrpc: "2.0",
            id: msg.id!,
            result: { tools: [{ name: `tool-${page}`, inputSchema: { type: "object" } }], nextCursor: String(page + 1) }
          })
        }))
        const session = yield* McpSession.make({ transport, clientInfo, requestTimeout: "5 seconds" })
        yield* faults.delayIncoming("2 seconds")
        const listing = yield* Effect.fork(session.listTools())
        // two pages answered after 2 s each; the third has 1 s left
        for (let page = 0; page < 2; page++) {
          yield* eventually(Effect.map(faults.sent, (sent) => sent.length), (n) => n >= 3 + page)
          yield* tick
          yield* TestClock.adjust("2 seconds")
        }
        yield* eventually(Effect.map(faults.sent, (sent) => sent.length), (n) => n >= 5)
        yield* TestClock.adjust("999 millis")
        assert.isNull(listing.unsafePoll())
        yield* TestClock.adjust("1 milli")
        const error = failureOf(yield* Fiber.await(listing)) as McpError.RequestTimeout
        assert.strictEqual(error._tag, "RequestTimeout")
        assert.strictEqual(error.method, "tools/list")
        assert.strictEqual(error.timeoutMillis, 5000)
      }))

    it.scoped("the session's requestTimeout is the default, and delayed answers still arrive in time", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const { faults, transport } = yield* McpTest.faulty(server.transport)
        const session = yield* McpSession.make({ transport, clientInfo, requestTimeout: "2 seconds" })
        yield* faults.delayIncoming("1 second")
        const fast = yield* Effect.fork(session.ping())
        yield* tick
        yield* TestClock.adjust("1 second")
        assert.isTrue(Exit.isSuccess(yield* Fiber.await(fast)))
        yield* faults.delayIncoming("3 seconds")
        const slow = yield* Effect.fork(session.ping())
        yield* tick
        yield* TestClock.adjust("2 seconds")
        const error = failureOf(yield* Fiber.await(slow))
        assert.strictEqual(error._tag, "RequestTimeout")
      }))

    it.scoped("keep-alive: an error answer is an answer, and resets the count of misses in a row", () =>
      Effect.gen(function*() {
        // ping 1 and 3 get no answer, ping 2 an error answer, the others a result
        let pings = 0
        const session = yield* McpSession.make({
          transport: scripted((message, reply) => {
            if (message.method !== "ping") return
            pings++
            if (pings === 2) reply({ jsonrpc: "2.0", id: message.id!, error: { code: -32603, message: "busy" } })
            else if (pings > 3) reply({ jsonrpc: "2.0", id: message.id!, result: {} })
          }),
          clientInfo,
          keepAlive: { interval: "1 second", timeout: "1 second", maxMissed: 2 }
        })
        // timeout (1 miss), error answer (0), timeout (1 miss): never two in a row
        for (let second = 0; second < 8; second++) {
          yield* tick
          yield* TestClock.adjust("1 second")
        }
        assert.isTrue(yield* isAlive(session), "the error answer was not counted as an answer")
        assert.isAtLeast(pings, 4)
      }))

    it.effect("a timeout beyond the longest timer (2^31-1 ms) still bounds initialize and requests, on a Clock like the live one", () =>
      Effect.gen(function*() {
        const clock = yield* liveLikeClock
        const timeout = Duration.millis(maxTimerMillis + 1000)
        const server = yield* McpTest.server()
        const { faults, transport } = yield* McpTest.faulty(server.transport)
        const scope = yield* Scope.make()
        const session = yield* McpSession.make({ transport, clientInfo, requestTimeout: timeout }).pipe(
          Scope.extend(scope),
          Effect.withClock(clock)
        )
        yield* faults.blackHole(true)
        const call = yield* Effect.fork(session.ping())
        const forever = yield* Effect.fork(session.ping({ timeout: Duration.infinity }))
        yield* tick
        yield* TestClock.adjust(Duration.subtract(timeout, Duration.millis(1)))
        assert.isNull(call.unsafePoll())
        yield* TestClock.adjust("1 milli")
        yield* eventually(Effect.sync(() => call.unsafePoll()), (exit) => exit !== null)
        assert.strictEqual(failureOf(yield* Fiber.await(call))._tag, "RequestTimeout")
        // an infinite timeout never expires
        yield* TestClock.adjust(Duration.days(365 * 100))
        assert.isNull(forever.unsafePoll())
        yield* Scope.close(scope, Exit.void)
        assert.strictEqual(failureOf(yield* Fiber.await(forever))._tag, "TransportCrashed")

        const making = yield* Effect.fork(
          Effect.scoped(McpSession.make({ transport, clientInfo, requestTimeout: timeout })).pipe(Effect.withClock(clock))
        )
        yield* tick
        yield* TestClock.adjust(timeout)
        yield* eventually(Effect.sync(() => making.unsafePoll()), (exit) => exit !== null)
        const error = failureOf(yield* Fiber.await(making))
        assert.isTrue(McpError.isInitializeFailed(error), String(error))
        assert.strictEqual((error as McpError.InitializeFailed).reason, "Timeout")
      }))

    it.effect("initialize is bounded by the request timeout", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const { faults, transport } = yield* McpTest.faulty(server.transport)
        yield* faults.blackHole(true)
        const making = yield* Effect.fork(
          Effect.scoped(McpSession.make({ transport, clientInfo, requestTimeout: "10 seconds" }))
        )
        yield* tick
        yield* TestClock.adjust("10 seconds")
        const error = failureOf(yield* Fiber.await(making))
        assert.isTrue(McpError.isInitializeFailed(error))
        assert.strictEqual((error as McpError.InitializeFailed).reason, "Timeout")
        assert.strictEqual(yield* server.live, 0)
      }))
  })

  describe("initialize", () => {
    it.effect("a transport that cannot open fails with its reason", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const { faults, transport } = yield* McpTest.faulty(server.transport)
        yield* faults.failNextOpens(new McpError.ConnectionFailed({ detail: "ECONNREFUSED", beforeSend: true }))
        const error = failureOf(yield* Effect.exit(Effect.scoped(McpSession.make({ transport, clientInfo }))))
        assert.strictEqual(error._tag, "TransportCrashed")
        assert.strictEqual((error as McpError.TransportCrashed).reason._tag, "ConnectionFailed")
      }))

    it.effect("an error answer to initialize is InitializeFailed", () =>
      Effect.gen(function*() {
        const transport = scripted(() => {}, {
          initialize: (id, reply) =>
            reply({ jsonrpc: "2.0", id, error: { code: -32600, message: "go away" } })
        })
        const error = failureOf(yield* Effect.exit(Effect.scoped(McpSession.make({ transport, clientInfo }))))
        assert.isTrue(McpError.isInitializeFailed(error), String(error))
        assert.strictEqual((error as McpError.InitializeFailed).reason, "Rejected")
        assert.match(error.message, /go away/)
      }))

    it.scoped("an onProgress that throws as its caller is interrupted still cancels the call on the server", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const { faults, transport } = yield* McpTest.faulty(server.transport)
        const session = yield* McpSession.make({ transport, clientInfo })
        let caller: Fiber.RuntimeFiber<unknown, unknown> | undefined = undefined
        caller = yield* Effect.fork(session.callTool({ name: "progress", arguments: { steps: 3 } }, {
          onProgress: () => {
            // the caller's fiber is interrupted before it resumes with the defect
            caller!.unsafeInterruptAsFork(caller!.id())
            throw new Error("a bug in the caller's callback")
          }
        }))
        yield* Fiber.await(caller)
        const sent = yield* faults.sent
        assert.isTrue(
          sent.some((m) => (m as { method?: string }).method === "notifications/cancelled"),
          "no notifications/cancelled was sent"
        )
        // the session goes on
        yield* session.ping()
      }))

    it.effect("closing a session whose transport's close never settles takes closeTimeout, on the Clock", () =>
      Effect.gen(function*() {
        const transport = scripted((msg, reply) => {
          if (msg.method === "ping") reply({ jsonrpc: "2.0", id: msg.id!, result: {} })
        }, { close: () => new Promise<void>(() => {}) })
        const scope = yield* Scope.make()
        const session = yield* McpSession.make({ transport, clientInfo, closeTimeout: "2 seconds" }).pipe(Scope.extend(scope))
        yield* session.ping()
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        for (let i = 0; i < 10; i++) yield* tick
        yield* TestClock.adjust("1999 millis")
        for (let i = 0; i < 10; i++) yield* tick
        assert.isTrue(Option.isNone(yield* Fiber.poll(closing)), "closed before closeTimeout")
        yield* TestClock.adjust("1 milli")
        yield* eventually(Fiber.poll(closing), Option.isSome)
      }))

    it.effect("an in-memory server whose close never settles holds the session's close 1 second, on the Clock", () =>
      Effect.gen(function*() {
        const server = new McpServer({ name: "stuck", version: "1.0.0" })
        let closes = 0
        server.close = () => {
          closes++
          return new Promise<void>(() => {})
        }
        const scope = yield* Scope.make()
        const session = yield* McpSession.make({ transport: McpTransport.inMemory(() => server), clientInfo }).pipe(
          Scope.extend(scope)
        )
        yield* session.ping()
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        for (let i = 0; i < 10; i++) yield* tick
        yield* TestClock.adjust("999 millis")
        for (let i = 0; i < 10; i++) yield* tick
        assert.strictEqual(closes, 1)
        assert.isTrue(Option.isNone(yield* Fiber.poll(closing)), "closed before the server's close bound")
        yield* TestClock.adjust("1 milli")
        yield* eventually(Fiber.poll(closing), Option.isSome)
      }))

    it.effect("a transport whose start rejects fails with TransportCrashed, not delivered", () =>
      Effect.gen(function*() {
        const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" })
        const transport = McpTransport.fromSdk({
          description: "refused",
          acquire: Effect.sync(() => ({
            start: () => Promise.reject(refused),
            send: async () => {},
            close: async () => {}
          } satisfies Transport))
        })
        const error = failureOf(yield* Effect.exit(Effect.scoped(McpSession.make({ transport, clientInfo }))))
        assert.isTrue(McpError.isTransportCrashed(error), String(error))
        const crashed = error as McpError.TransportCrashed
        assert.strictEqual(crashed.delivery, "NotDelivered")
        assert.deepStrictEqual(crashed.reason, new McpError.ConnectionFailed({ detail: refused.message, beforeSend: true }))
        assert.strictEqual(crashed.cause, refused)
      }))

    it.effect("a -32000 error answer to initialize is InitializeFailed, though the SDK then closes the transport", () =>
      Effect.gen(function*() {
        const transport = scripted(() => {}, {
          initialize: (id, reply) => reply({ jsonrpc: "2.0", id, error: { code: -32000, message: "server overloaded" } })
        })
        const error = failureOf(yield* Effect.exit(Effect.scoped(McpSession.make({ transport, clientInfo }))))
        assert.isTrue(McpError.isInitializeFailed(error), String(error))
        assert.strictEqual((error as McpError.InitializeFailed).reason, "Rejected")
        assert.match(error.message, /server overloaded/)
      }))

    it.effect("a peer that answers initialize and hangs up in the same tick is a TransportCrashed", () =>
      Effect.gen(function*() {
        const transport = scripted(() => {}, {
          initialize: (id, reply, hangUp) => {
            reply({ jsonrpc: "2.0", id, result: initializeResult })
            hangUp()
          }
        })
        const error = failureOf(yield* Effect.exit(Effect.scoped(McpSession.make({ transport, clientInfo }))))
        assert.isTrue(McpError.isTransportCrashed(error), String(error))
        assert.strictEqual((error as McpError.TransportCrashed).reason._tag, "Closed")
      }))

    it.effect("a transport that already has a session id (the SDK skips initialize) fails with InitializeFailed", () =>
      Effect.gen(function*() {
        const transport = scripted(() => {}, { sessionId: "resumed-session" })
        const error = failureOf(yield* Effect.exit(Effect.scoped(McpSession.make({ transport, clientInfo }))))
        assert.isTrue(McpError.isInitializeFailed(error), String(error))
        assert.strictEqual((error as McpError.InitializeFailed).reason, "Invalid")
        assert.match((error as McpError.InitializeFailed).detail, /session id/)
      }))

    it.live("a failed initialize whose transport fails to close leaves no unhandled rejection (the SDK closes it unawaited)", () =>
      Effect.gen(function*() {
        const unhandled = yield* unhandledRejections
        const closes: Array<string> = []
        const transport = scripted(() => {}, {
          initialize: (id, reply) => reply({ jsonrpc: "2.0", id, error: { code: -32600, message: "go away" } }),
          close: () => {
            closes.push("close")
            return Promise.reject(new Error("interrupted while closing"))
          }
        })
        const error = failureOf(yield* Effect.exit(Effect.scoped(McpSession.make({ transport, clientInfo }))))
        assert.isTrue(McpError.isInitializeFailed(error), String(error))
        // Node reports an unhandled rejection once the microtasks have run
        yield* Effect.sleep("50 millis")
        assert.isAbove(closes.length, 0)
        assert.deepStrictEqual(unhandled, [])
      }).pipe(Effect.scoped))

    it.effect("an initialize refused before it was sent is a crash that says NotDelivered", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const refusing = McpTransport.make({
          description: "refusing",
          open: (control) =>
            Effect.map(server.transport.open(control), (connection) => ({
              ...connection,
              send: (message) =>
                Effect.sync(() => {
                  const refused = new McpError.ConnectionFailed({ detail: "ECONNREFUSED", beforeSend: true })
                  if ("id" in message && message.id !== undefined) control.failRequests([message.id], refused)
                  control.crash(refused)
                })
            }))
        })
        const error = failureOf(yield* Effect.exit(Effect.scoped(McpSession.make({ transport: refusing, clientInfo }))))
        assert.strictEqual(error._tag, "TransportCrashed")
        assert.strictEqual((error as McpError.TransportCrashed).delivery, "NotDelivered")
      }))
  })

  describe("cancellation", () => {
    it.scoped("interrupting a caller sends notifications/cancelled to the server", () =>
      Effect.gen(function*() {
        const { server, session } = yield* setup()
        const call = yield* Effect.fork(session.callTool({ name: "block" }))
        yield* eventually(server.executions("block"), (n) => n === 1)
        yield* Fiber.interrupt(call)
        const cancellations = yield* eventually(server.cancellations, (c) => c.length === 1)
        assert.strictEqual(cancellations.length, 1)
        // the session is still usable
        const result = yield* session.callTool({ name: "echo", arguments: { message: "after" } })
        assert.deepStrictEqual(result.content, [{ type: "text", text: "Echo: after" }])
      }))

    it.scoped("a timeout cancels the request on the server too", () =>
      Effect.gen(function*() {
        const { server, session } = yield* setup()
        const call = yield* Effect.fork(session.callTool({ name: "block" }, { timeout: "1 second" }))
        yield* eventually(server.executions("block"), (n) => n === 1)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(failureOf(yield* Fiber.await(call))._tag, "RequestTimeout")
        yield* eventually(server.cancellations, (c) => c.length === 1)
      }))
  })

  describe("progress", () => {
    it.scoped("delivers every progress notification to the handler, the last one included", () =>
      Effect.gen(function*() {
        const { session } = yield* setup()
        const seen: Array<number> = []
        const result = yield* session.callTool({ name: "progress", arguments: { steps: 20 } }, {
          onProgress: (p) => seen.push(p.progress)
        })
        assert.deepStrictEqual(result.content, [{ type: "text", text: "done 20" }])
        assert.deepStrictEqual(seen, Array.from({ length: 20 }, (_, i) => i + 1))
      }))

    it.scoped("keeps the last progress when it arrives in the same tick as the response", () =>
      Effect.gen(function*() {
        // The raw SDK drops the last progress here: it handles notifications a microtask late.
        const transport = scripted((msg, reply) => {
          if (msg.method !== "tools/call") return
          const token = msg.params._meta.progressToken
          for (let i = 1; i <= 3; i++) {
            reply({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: token, progress: i, total: 3 } })
          }
          reply({ jsonrpc: "2.0", id: msg.id!, result: { content: [{ type: "text", text: "ok" }] } })
        })
        const session = yield* McpSession.make({ transport, clientInfo })
        const seen: Array<number> = []
        yield* session.callTool({ name: "work" }, { onProgress: (p) => seen.push(p.progress) })
        assert.deepStrictEqual(seen, [1, 2, 3])
        const events = Chunk.toReadonlyArray(yield* Stream.runCollect(session.callToolStream({ name: "work" })))
        assert.deepStrictEqual(events.map((e) => e._tag), ["Progress", "Progress", "Progress", "Result"])
        assert.deepStrictEqual(events.flatMap((e) => (e._tag === "Progress" ? [e.progress.progress] : [])), [1, 2, 3])
      }))

    it.scoped("an onProgress that throws fails its own call with that defect; the transport never sees it", () =>
      Effect.gen(function*() {
        const boom = new Error("a bug in the caller's progress handler")
        const throwing = { onProgress: () => { throw boom } }
        // in memory, the throw would go back into the server's sendNotification
        const { server, session } = yield* setup()
        const exit = yield* Effect.exit(session.callTool({ name: "progress", arguments: { steps: 3 } }, throwing))
        assert.isTrue(Exit.isFailure(exit) && Option.getOrUndefined(Cause.dieOption(exit.cause)) === boom, String(exit))
        assert.strictEqual(yield* server.executions("progress"), 1)
        assert.isTrue(yield* isAlive(session))
        assert.deepStrictEqual(
          (yield* session.callTool({ name: "echo", arguments: { message: "after" } })).content,
          [{ type: "text", text: "Echo: after" }]
        )
        // progress and answer in one batch: the throw would reject the transport's send, or drop the answer
        const batched = yield* McpSession.make({
          transport: scripted((msg, reply) => {
            if (msg.method === "ping") return reply({ jsonrpc: "2.0", id: msg.id!, result: {} })
            if (msg.method !== "tools/call") return
            const progressToken = msg.params._meta.progressToken
            reply({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken, progress: 1 } })
            reply({ jsonrpc: "2.0", id: msg.id!, result: { content: [] } })
          }),
          clientInfo
        })
        const batchedExit = yield* Effect.exit(batched.callTool({ name: "work" }, throwing))
        assert.isTrue(Exit.isFailure(batchedExit) && Option.getOrUndefined(Cause.dieOption(batchedExit.cause)) === boom)
        assert.isTrue(yield* isAlive(batched))
        yield* batched.ping()
      }))

    it.scoped("callToolStream ends with the result, or fails with the crash", () =>
      Effect.gen(function*() {
        const { faults, server, session } = yield* setup()
        const events = Chunk.toReadonlyArray(
          yield* Stream.runCollect(session.callToolStream({ name: "progress", arguments: { steps: 5 } }))
        )
        assert.strictEqual(events.length, 6)
        assert.deepStrictEqual(events[5], { _tag: "Result", result: { content: [{ type: "text", text: "done 5" }] } })
        const blocked = yield* Effect.fork(Stream.runDrain(session.callToolStream({ name: "block" })))
        yield* eventually(server.executions("block"), (n) => n === 1)
        yield* faults.crash(new McpError.LivenessLost({ missed: 3 }))
        const error = failureOf(yield* Fiber.await(blocked))
        assert.strictEqual(error._tag, "TransportCrashed")
      }))
  })

  describe("layer", () => {
    it.effect("provides the session as a service", () =>
      Effect.gen(function*() {
        const server = yield* McpTest.server()
        const result = yield* Effect.gen(function*() {
          const session = yield* McpSession.McpSession
          return yield* session.callTool({ name: "echo", arguments: { message: "layer" } })
        }).pipe(Effect.provide(McpSession.layer({ transport: server.transport, clientInfo })))
        assert.deepStrictEqual(result.content, [{ type: "text", text: "Echo: layer" }])
        assert.strictEqual(yield* server.live, 0)
      }))
  })
})
