/**
 * What server-everything asks of the client (2025-11-25, over stdio, and once over Streamable HTTP), answered
 * by `McpClientHandlers`: elicitation, sampling and roots end to end, its log messages in the Effect logger,
 * a handler's refusal as the server sees it, the server's death while a handler runs; and a resource
 * subscription's updates.
 */
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import { McpClientHandlers, McpSession } from "@effect-mcp/session"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import type { CallToolResult, Root } from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { childPids, clientInfo, serverEverything, startEverything } from "./utils.js"

const open = (options?: Partial<McpSession.McpSession.Options>) =>
  McpSession.make({
    transport: NodeMcpTransport.stdio({ command: process.execPath, args: [serverEverything, "stdio"] }),
    clientInfo,
    requestTimeout: "20 seconds",
    ...options
  })

const text = (result: CallToolResult) => result.content.flatMap((c) => (c.type === "text" ? [c.text] : [])).join("\n")

/** Polls `effect` every 10 ms of real time until `predicate` holds, for at most 10 seconds. */
const waitFor = <A, E, R>(effect: Effect.Effect<A, E, R>, predicate: (a: A) => boolean) =>
  effect.pipe(
    Effect.repeat({ until: predicate }),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("condition not met within 10 seconds") })
  )

const poll = <A>(read: () => A, predicate: (a: A) => boolean) =>
  waitFor(Effect.sync(read).pipe(Effect.tap(() => Effect.sleep("10 millis"))), predicate)

describe("server-everything asks the client", () => {
  it.scopedLive("no handler: the tools that need one are not offered", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const tools = (yield* session.listTools()).map((t) => t.name)
      for (const name of ["trigger-elicitation-request", "trigger-sampling-request", "get-roots-list"]) assert.notInclude(tools, name)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("elicitation: the handler's answer, with the schema's defaults filled in", () =>
    Effect.gen(function*() {
      const asked: Array<string> = []
      const session = yield* open().pipe(
        Effect.provide(McpClientHandlers.Elicitation.layer((params) =>
          Effect.sync(() => asked.push(params.message)).pipe(Effect.as({ action: "accept" as const, content: { name: "Ada" } }))
        ))
      )
      assert.include((yield* session.listTools()).map((t) => t.name), "trigger-elicitation-request")
      const result = text(yield* session.callTool({ name: "trigger-elicitation-request", arguments: {} }))
      assert.strictEqual(asked.length, 1)
      assert.include(result, "- Name: Ada")
      // not given by the handler: the schema's defaults
      assert.include(result, "- Favorite Integer: 42")
      assert.include(result, "- Favorite Number: 3.14")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("Streamable HTTP: the server's requests arrive on the call's stream and the answers go back", () =>
    Effect.gen(function*() {
      const server = yield* startEverything("streamableHttp")
      const roots = yield* SubscriptionRef.make<ReadonlyArray<Root>>([{ uri: "file:///http", name: "http" }])
      const session = yield* McpSession.make({
        transport: NodeMcpTransport.streamableHttp({ url: server.url }),
        clientInfo,
        requestTimeout: "20 seconds"
      }).pipe(
        Effect.provide(Layer.merge(
          McpClientHandlers.Elicitation.layer(() => Effect.succeed({ action: "accept" as const, content: { name: "Ada" } })),
          McpClientHandlers.Roots.layer(roots)
        ))
      )
      const elicited = text(yield* session.callTool({ name: "trigger-elicitation-request", arguments: {} }))
      assert.include(elicited, "- Name: Ada")
      assert.include(elicited, "- Favorite Integer: 42")
      assert.include(text(yield* session.callTool({ name: "get-roots-list", arguments: {} })), "URI: file:///http")
    }).pipe(Effect.provide(Layer.merge(NodeContext.layer, NodeHttpClient.layerUndici))))

  it.scopedLive("elicitation: a handler's HandlerError reaches the server as its error", () =>
    Effect.gen(function*() {
      const session = yield* open().pipe(
        Effect.provide(McpClientHandlers.Elicitation.layer(() => Effect.fail(new McpClientHandlers.HandlerError({ detail: "user refused", code: -1 }))))
      )
      const result = yield* session.callTool({ name: "trigger-elicitation-request", arguments: {} })
      assert.isTrue(result.isError)
      assert.include(text(result), "user refused")
      // the session goes on
      const echo = yield* session.callTool({ name: "echo", arguments: { message: "after" } })
      assert.include(text(echo), "after")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("sampling: the handler's message is the server's result", () =>
    Effect.gen(function*() {
      const session = yield* open().pipe(
        Effect.provide(McpClientHandlers.Sampling.layer((params) =>
          Effect.succeed({
            role: "assistant" as const,
            model: "test-model",
            content: { type: "text" as const, text: `seen ${params.maxTokens} tokens: ${JSON.stringify(params.messages[0]?.content)}` }
          })
        ))
      )
      const result = text(yield* session.callTool({ name: "trigger-sampling-request", arguments: { prompt: "hello", maxTokens: 7 } }))
      assert.include(result, "test-model")
      assert.include(result, "seen 7 tokens")
      assert.include(result, "hello")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("roots and logging: the roots as given, a change announced and fetched again, the server's log lines in the Effect logger", () =>
    Effect.gen(function*() {
      const logs: Array<{ level: string; message: string; server: unknown; logger: unknown }> = []
      const logger = Logger.make(({ annotations, logLevel, message }) => {
        const record: Record<string, unknown> = {}
        for (const [k, v] of annotations) record[k] = v
        logs.push({ level: logLevel.label, message: String(message), server: record.server, logger: record.logger })
      })
      const roots = yield* SubscriptionRef.make<ReadonlyArray<Root>>([{ uri: "file:///work/a", name: "a" }])
      yield* Effect.gen(function*() {
        const session = yield* open({ logLevel: "debug" }).pipe(Effect.provide(McpClientHandlers.Roots.layer(roots)))
        const first = text(yield* session.callTool({ name: "get-roots-list", arguments: {} }))
        assert.include(first, "Current MCP Roots (1 total)")
        assert.include(first, "URI: file:///work/a")
        const updated = (n: number) => logs.filter((l) => l.message.includes(`Roots updated: ${n} root(s)`))
        const [line] = yield* poll(() => updated(1), (l) => l.length > 0)
        assert.strictEqual(line!.level, "INFO")
        assert.strictEqual(line!.server, session.serverInfo.name)
        assert.strictEqual(line!.logger, "everything-server")

        yield* SubscriptionRef.set(roots, [{ uri: "file:///work/a", name: "a" }, { uri: "file:///work/b", name: "b" }])
        yield* poll(() => updated(2), (l) => l.length > 0)
        assert.include(text(yield* session.callTool({ name: "get-roots-list", arguments: {} })), "Current MCP Roots (2 total)")

        // simulated logging sends one message at once, at a random level: every level passes "debug"
        const before = logs.length
        yield* session.callTool({ name: "toggle-simulated-logging", arguments: {} })
        const [simulated] = yield* poll(() => logs.slice(before).filter((l) => /-level message|level-message/.test(l.message)), (l) => l.length > 0)
        assert.strictEqual(simulated!.server, session.serverInfo.name)
        yield* session.callTool({ name: "toggle-simulated-logging", arguments: {} })
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    }).pipe(Effect.provide(Layer.merge(NodeContext.layer, Logger.minimumLogLevel(LogLevel.All)))))

  it.scopedLive("subscribe: a resource's updates as a Stream, unsubscribed when it ends", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const logger = Logger.make(({ message }) => void logs.push(String(message)))
      yield* Effect.gen(function*() {
        const session = yield* open({ logLevel: "info" })
        const [resource] = yield* session.listResources()
        const uri = resource!.uri
        const first = yield* session.subscribe(uri).pipe(Stream.runHead, Effect.fork)
        yield* poll(() => logs.some((l) => l.includes(`Received Subscribe Resource request for URI: ${uri}`)), (s) => s)
        yield* session.ping()
        // the server sends one update at once to what is subscribed, then one every 5 seconds
        yield* session.callTool({ name: "toggle-subscriber-updates", arguments: {} })
        const update = yield* Fiber.join(first).pipe(Effect.timeout("10 seconds"))
        assert.deepStrictEqual(update.pipe(Option.map((e) => e._tag === "Updated" ? e.uri : e._tag)), Option.some(uri))
        yield* poll(() => logs.some((l) => l.includes(`Received Unsubscribe Resource request: ${uri}`)), (s) => s)
        yield* session.callTool({ name: "toggle-subscriber-updates", arguments: {} })
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("the server's death while a handler runs interrupts the handler", () =>
    Effect.gen(function*() {
      let started = false
      let interrupted = false
      const session = yield* open().pipe(
        Effect.provide(McpClientHandlers.Elicitation.layer(() =>
          Effect.sync(() => void (started = true)).pipe(
            Effect.zipRight(Effect.never),
            Effect.onInterrupt(() => Effect.sync(() => void (interrupted = true)))
          )
        ))
      )
      const call = yield* Effect.fork(session.callTool({ name: "trigger-elicitation-request", arguments: {} }))
      yield* poll(() => started, (s) => s)
      const [pid] = childPids(serverEverything)
      process.kill(pid!, "SIGKILL")
      yield* poll(() => interrupted, (i) => i)
      const exit = yield* call.await
      assert.strictEqual(exit._tag, "Failure")
    }).pipe(Effect.provide(NodeContext.layer)))
})
