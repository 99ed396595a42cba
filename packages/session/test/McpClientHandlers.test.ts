import { assert, describe, it } from "@effect/vitest"
import type { CreateMessageResult, Root } from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as TestClock from "effect/TestClock"
import { McpClientHandlers, McpError, McpSession, McpSessionPolicy } from "../src/index.js"
import { eventually, failureOf, peer } from "./utils.js"

const clientInfo = { name: "handlers-test", version: "0.0.0" }

const elicitForm = (id: string | number) => ({
  jsonrpc: "2.0",
  id,
  method: "elicitation/create",
  params: {
    message: "who are you?",
    requestedSchema: {
      type: "object",
      properties: { name: { type: "string" }, age: { type: "number", default: 30 }, role: { type: "string", default: "dev" } }
    }
  }
})

const accept = McpClientHandlers.Elicitation.layer(() => Effect.succeed({ action: "accept" as const, content: { name: "Ada", role: "lead" } }))

describe("McpClientHandlers", () => {
  describe("2025-11-25 (the server's own requests)", () => {
    it.scoped("advertises exactly the capabilities whose handlers are present", () =>
      Effect.gen(function*() {
        const withHandlers = peer()
        yield* McpSession.make({ transport: withHandlers.transport, clientInfo, capabilities: { sampling: {}, experimental: { x: {} } } }).pipe(
          Effect.provide(Layer.merge(accept, McpClientHandlers.Roots.layerStatic([])))
        )
        assert.deepStrictEqual(withHandlers.received[0]?.params.capabilities, {
          experimental: { x: {} },
          elicitation: { form: { applyDefaults: true } },
          roots: { listChanged: true }
        })
        const bare = peer()
        yield* McpSession.make({ transport: bare.transport, clientInfo, capabilities: { sampling: {}, experimental: { x: {} } } })
        // sampling is advertised only with its handler
        assert.deepStrictEqual(bare.received[0]?.params.capabilities, { experimental: { x: {} } })
        const sampling = peer()
        yield* McpSession.make({ transport: sampling.transport, clientInfo }).pipe(
          Effect.provide(McpClientHandlers.Sampling.layer(() => Effect.die("unused"), { tools: true }))
        )
        assert.deepStrictEqual(sampling.received[0]?.params.capabilities, { sampling: { tools: {} } })
      }))

    it.scoped("elicitation/create: answered by the handler, with the schema's defaults filled in", () =>
      Effect.gen(function*() {
        const server = peer()
        const session = yield* McpSession.make({ transport: server.transport, clientInfo }).pipe(Effect.provide(accept))
        server.send(elicitForm("e1"))
        const answer = yield* server.answerTo("e1")
        assert.deepStrictEqual(answer.result, { action: "accept", content: { age: 30, role: "lead", name: "Ada" } })
        yield* session.ping()
      }))

    it.scoped("without applyDefaults the content is the handler's own; URL mode needs its option", () =>
      Effect.gen(function*() {
        const server = peer()
        yield* McpSession.make({ transport: server.transport, clientInfo }).pipe(
          Effect.provide(McpClientHandlers.Elicitation.layer(
            (params) => Effect.succeed({ action: "accept" as const, content: { mode: params.mode ?? "form" } }),
            { applyDefaults: false }
          ))
        )
        server.send(elicitForm(1))
        assert.deepStrictEqual((yield* server.answerTo(1)).result, { action: "accept", content: { mode: "form" } })
        server.send({ jsonrpc: "2.0", id: 2, method: "elicitation/create", params: { mode: "url", message: "log in", url: "https://example.invalid/x", elicitationId: "x1" } })
        assert.strictEqual((yield* server.answerTo(2)).error?.code, -32602)
      }))

    it.scoped("URL mode reaches the handler when offered", () =>
      Effect.gen(function*() {
        const server = peer()
        const seen: Array<unknown> = []
        yield* McpSession.make({ transport: server.transport, clientInfo }).pipe(
          Effect.provide(McpClientHandlers.Elicitation.layer(
            (params) => Effect.sync(() => seen.push(params)).pipe(Effect.as({ action: "accept" as const })),
            { url: true }
          ))
        )
        server.send({ jsonrpc: "2.0", id: 2, method: "elicitation/create", params: { mode: "url", message: "log in", url: "https://example.invalid/x", elicitationId: "x1" } })
        assert.deepStrictEqual((yield* server.answerTo(2)).result, { action: "accept" })
        assert.strictEqual((seen[0] as { elicitationId: string }).elicitationId, "x1")
      }))

    it.scoped("invalid params are -32602; a kind with no handler is -32601", () =>
      Effect.gen(function*() {
        const server = peer()
        yield* McpSession.make({ transport: server.transport, clientInfo }).pipe(Effect.provide(accept))
        server.send({ jsonrpc: "2.0", id: "bad", method: "elicitation/create", params: { message: 42 } })
        assert.strictEqual((yield* server.answerTo("bad")).error?.code, -32602)
        server.send({ jsonrpc: "2.0", id: "s", method: "sampling/createMessage", params: { messages: [], maxTokens: 10 } })
        assert.strictEqual((yield* server.answerTo("s")).error?.code, -32601)
      }))

    it.scoped("a handler's HandlerError is its error answer; another failure or a defect is -32603 without detail; the session goes on", () =>
      Effect.gen(function*() {
        const server = peer()
        const session = yield* McpSession.make({ transport: server.transport, clientInfo }).pipe(
          Effect.provide(McpClientHandlers.Sampling.layer((params): Effect.Effect<CreateMessageResult, unknown> =>
            params.maxTokens === 1
              ? Effect.fail(new McpClientHandlers.HandlerError({ detail: "user refused", code: -1 }))
              : params.maxTokens === 2
              ? Effect.fail("secret detail")
              : Effect.die(new Error("secret defect"))
          ))
        )
        const sample = (id: number) =>
          server.send({
            jsonrpc: "2.0",
            id,
            method: "sampling/createMessage",
            params: { messages: [{ role: "user", content: { type: "text", text: "hi" } }], maxTokens: id }
          })
        sample(1)
        sample(2)
        sample(3)
        assert.deepStrictEqual((yield* server.answerTo(1)).error, { code: -1, message: "user refused" })
        const other = (yield* server.answerTo(2)).error
        const defect = (yield* server.answerTo(3)).error
        assert.deepStrictEqual([other.code, defect.code], [-32603, -32603])
        assert.notInclude(JSON.stringify([other, defect]), "secret")
        yield* session.ping()
      }))

    it.scoped("a handler is bounded by handlerTimeout: -32001, and the handler is interrupted", () =>
      Effect.gen(function*() {
        const server = peer()
        let interrupted = false
        yield* McpSession.make({ transport: server.transport, clientInfo, handlerTimeout: "3 seconds" }).pipe(
          Effect.provide(McpClientHandlers.Elicitation.layer(() => Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => void (interrupted = true))))))
        )
        server.send(elicitForm("slow"))
        yield* eventually(Effect.sync(() => server.received.length), () => true)
        yield* TestClock.adjust("2 seconds")
        assert.isUndefined(server.received.find((m) => m.id === "slow"))
        yield* TestClock.adjust("1 second")
        assert.strictEqual((yield* server.answerTo("slow")).error?.code, -32001)
        assert.isTrue(interrupted)
      }))

    it.scoped("the server's notifications/cancelled interrupts its handler, and nothing is answered", () =>
      Effect.gen(function*() {
        const server = peer()
        let started = false
        let interrupted = false
        const session = yield* McpSession.make({ transport: server.transport, clientInfo }).pipe(
          Effect.provide(McpClientHandlers.Elicitation.layer(() =>
            Effect.sync(() => void (started = true)).pipe(
              Effect.zipRight(Effect.never),
              Effect.onInterrupt(() => Effect.sync(() => void (interrupted = true)))
            )
          ))
        )
        server.send(elicitForm(7))
        yield* eventually(Effect.sync(() => started), (s) => s)
        // another id is not this request
        server.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "7" } })
        yield* session.ping()
        assert.isFalse(interrupted)
        server.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 7, reason: "user left" } })
        yield* eventually(Effect.sync(() => interrupted), (i) => i)
        yield* session.ping()
        assert.isUndefined(server.received.find((m) => m.id === 7))
      }))

    it.scoped("the transport's death interrupts a running handler", () =>
      Effect.gen(function*() {
        const server = peer()
        let started = false
        let interrupted = false
        const session = yield* McpSession.make({ transport: server.transport, clientInfo }).pipe(
          Effect.provide(McpClientHandlers.Elicitation.layer(() =>
            Effect.sync(() => void (started = true)).pipe(
              Effect.zipRight(Effect.never),
              Effect.onInterrupt(() => Effect.sync(() => void (interrupted = true)))
            )
          ))
        )
        server.send(elicitForm(9))
        yield* eventually(Effect.sync(() => started), (s) => s)
        server.hangUp()
        const crashed = failureOf(yield* Effect.exit(session.await))
        assert.strictEqual(crashed._tag, "TransportCrashed")
        yield* eventually(Effect.sync(() => interrupted), (i) => i)
      }))

    it.scoped("roots/list answers the current roots; a change sends notifications/roots/list_changed", () =>
      Effect.gen(function*() {
        const server = peer()
        const roots = yield* SubscriptionRef.make<ReadonlyArray<Root>>([{ uri: "file:///a" }])
        yield* McpSession.make({ transport: server.transport, clientInfo }).pipe(Effect.provide(McpClientHandlers.Roots.layer(roots)))
        server.send({ jsonrpc: "2.0", id: "r1", method: "roots/list" })
        assert.deepStrictEqual((yield* server.answerTo("r1")).result, { roots: [{ uri: "file:///a" }] })
        const changed = () => server.received.filter((m) => m.method === "notifications/roots/list_changed").length
        assert.strictEqual(changed(), 0)
        yield* SubscriptionRef.set(roots, [{ uri: "file:///b", name: "b" }])
        yield* eventually(Effect.sync(changed), (n) => n === 1)
        server.send({ jsonrpc: "2.0", id: "r2", method: "roots/list", params: {} })
        assert.deepStrictEqual((yield* server.answerTo("r2")).result, { roots: [{ uri: "file:///b", name: "b" }] })
      }))

    it.scoped("server log messages reach the Effect logger at the mapped level, annotated with the server; logLevel sets the level", () =>
      Effect.gen(function*() {
        const logs: Array<{ level: string; message: unknown; annotations: Record<string, unknown> }> = []
        const logger = Logger.make(({ annotations, logLevel, message }) => {
          const record: Record<string, unknown> = {}
          for (const [k, v] of annotations) record[k] = v
          logs.push({ level: logLevel.label, message, annotations: record })
        })
        const server = peer({
          capabilities: { tools: {}, logging: {} },
          answer: (msg, send) => {
            if (msg.method === "logging/setLevel") send({ jsonrpc: "2.0", id: msg.id, result: {} })
          }
        })
        yield* Effect.gen(function*() {
          yield* McpSession.make({ transport: server.transport, clientInfo, logLevel: "notice" })
          const set = server.received.find((m) => m.method === "logging/setLevel")
          assert.deepStrictEqual(set?.params, { level: "notice" })
          server.send({ jsonrpc: "2.0", method: "notifications/message", params: { level: "warning", logger: "db", data: "slow query" } })
          server.send({ jsonrpc: "2.0", method: "notifications/message", params: { level: "critical", data: { code: 1 } } })
          const found = yield* eventually(Effect.sync(() => logs.filter((l) => l.annotations.server === "scripted")), (l) => l.length === 2)
          assert.deepStrictEqual(found.map((l) => [l.level, l.message]), [["WARN", ["slow query"]], ["FATAL", ['{"code":1}']]])
          assert.strictEqual(found[0]!.annotations.logger, "db")
        }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      }))

    it.scoped("a resilient session's generations read the handlers of the context it was made in", () =>
      Effect.gen(function*() {
        const server = peer()
        const { session } = yield* McpSession.makeResilient({ transport: server.transport, clientInfo }, McpSessionPolicy.make({ keepAlive: false })).pipe(
          Effect.provide(accept)
        )
        yield* session.ping()
        assert.deepStrictEqual(server.received[0]?.params.capabilities, { elicitation: { form: { applyDefaults: true } } })
        server.send(elicitForm("e"))
        assert.strictEqual((yield* server.answerTo("e")).result?.action, "accept")
      }))
  })

  describe("2026-07-28 (input_required, then a retry)", () => {
    const inputRequired = (requestState?: string) => ({
      resultType: "input_required",
      inputRequests: {
        who: { method: "elicitation/create", params: elicitForm(0).params },
        where: { method: "roots/list", params: {} }
      },
      ...(requestState !== undefined ? { requestState } : {})
    })

    it.scoped("a tool that needs input: the handlers answer, the call is re-sent with inputResponses and requestState, and returns the final result", () =>
      Effect.gen(function*() {
        const server = peer({
          modern: true,
          answer: (msg, send) => {
            if (msg.method !== "tools/call") return
            send({
              jsonrpc: "2.0",
              id: msg.id,
              result: msg.params.inputResponses === undefined
                ? inputRequired("opaque-1")
                : msg.params.inputResponses.again === undefined
                ? { resultType: "input_required", inputRequests: { again: { method: "roots/list", params: {} } } }
                : { resultType: "complete", content: [{ type: "text", text: "done" }] }
            })
          }
        })
        const session = yield* McpSession.make({ transport: server.transport, clientInfo }).pipe(
          Effect.provide(Layer.merge(accept, McpClientHandlers.Roots.layerStatic([{ uri: "file:///r" }])))
        )
        assert.strictEqual(session.protocolVersion, "2026-07-28")
        // the third round carries no requestState (the second answer had none): not an endless loop
        const calls = () => server.received.filter((m) => m.method === "tools/call")
        const result = yield* Effect.exit(session.callTool({ name: "book", arguments: { seat: 1 } }))
        assert.strictEqual(calls().length, 3)
        const [first, second, third] = calls()
        assert.deepStrictEqual(first!.params.arguments, { seat: 1 })
        assert.deepStrictEqual(second!.params.inputResponses, {
          who: { action: "accept", content: { age: 30, role: "lead", name: "Ada" } },
          where: { roots: [{ uri: "file:///r" }] }
        })
        assert.strictEqual(second!.params.requestState, "opaque-1")
        assert.deepStrictEqual(second!.params.arguments, { seat: 1 })
        assert.notProperty(third!.params, "requestState")
        assert.deepStrictEqual(third!.params.inputResponses, { again: { roots: [{ uri: "file:///r" }] } })
        assert.strictEqual(new Set(calls().map((m) => m.id)).size, 3)
        // the 2026 envelope advertises the handlers
        assert.deepStrictEqual(first!.params._meta["io.modelcontextprotocol/clientCapabilities"], {
          elicitation: { form: { applyDefaults: true } },
          roots: { listChanged: true }
        })
        assert.strictEqual(result._tag, "Success")
        if (result._tag === "Success") assert.deepStrictEqual(result.value.content, [{ type: "text", text: "done" }])
      }))

    it.scoped("URL elicitation has no elicitationId under 2026-07-28: the handler gets the input's key", () =>
      Effect.gen(function*() {
        const server = peer({
          modern: true,
          answer: (msg, send) => {
            if (msg.method !== "tools/call") return
            send({
              jsonrpc: "2.0",
              id: msg.id,
              result: msg.params.inputResponses === undefined
                ? { resultType: "input_required", inputRequests: { login: { method: "elicitation/create", params: { mode: "url", message: "log in", url: "https://example.invalid/login" } } } }
                : { resultType: "complete", content: [{ type: "text", text: JSON.stringify(msg.params.inputResponses) }] }
            })
          }
        })
        const seen: Array<string> = []
        const session = yield* McpSession.make({ transport: server.transport, clientInfo }).pipe(
          Effect.provide(McpClientHandlers.Elicitation.layer(
            (params) => Effect.sync(() => seen.push(params.mode === "url" ? params.elicitationId : "form")).pipe(Effect.as({ action: "accept" as const })),
            { url: true }
          ))
        )
        const result = yield* session.callTool({ name: "t", arguments: {} })
        assert.deepStrictEqual(seen, ["login"])
        assert.deepStrictEqual(JSON.parse((result.content[0] as { text: string }).text), { login: { action: "accept" } })
      }))

    it.scoped("a kind of input with no handler fails the call with InputRequired, as before", () =>
      Effect.gen(function*() {
        const server = peer({
          modern: true,
          answer: (msg, send) => {
            if (msg.method === "prompts/get") send({ jsonrpc: "2.0", id: msg.id, result: inputRequired("s") })
          }
        })
        const session = yield* McpSession.make({ transport: server.transport, clientInfo }).pipe(Effect.provide(accept))
        const error = failureOf(yield* Effect.exit(session.getPrompt({ name: "p" })))
        assert.isTrue(McpError.isInputRequired(error))
        assert.strictEqual(server.received.filter((m) => m.method === "prompts/get").length, 1)
      }))

    it.scoped("the rounds are bounded by maxInputRounds: then a ProtocolError", () =>
      Effect.gen(function*() {
        const server = peer({
          modern: true,
          answer: (msg, send) => {
            if (msg.method === "resources/read") {
              send({ jsonrpc: "2.0", id: msg.id, result: { resultType: "input_required", requestState: "again" } })
            }
          }
        })
        const session = yield* McpSession.make({ transport: server.transport, clientInfo, maxInputRounds: 3 }).pipe(Effect.provide(accept))
        const error = failureOf(yield* Effect.exit(session.readResource({ uri: "file:///x" })))
        assert.strictEqual(error._tag, "ProtocolError")
        assert.match((error as McpError.ProtocolError).detail, /more than 3 times/)
        assert.strictEqual(server.received.filter((m) => m.method === "resources/read").length, 4)
      }))

    it.scoped("the transport's death while a round's handler runs interrupts it and fails the call", () =>
      Effect.gen(function*() {
        let started = false
        let interrupted = false
        const server = peer({
          modern: true,
          answer: (msg, send) => {
            if (msg.method === "tools/call") send({ jsonrpc: "2.0", id: msg.id, result: inputRequired("s") })
          }
        })
        const session = yield* McpSession.make({ transport: server.transport, clientInfo }).pipe(
          Effect.provide(Layer.merge(
            McpClientHandlers.Elicitation.layer(() =>
              Effect.sync(() => void (started = true)).pipe(
                Effect.zipRight(Effect.never),
                Effect.onInterrupt(() => Effect.sync(() => void (interrupted = true)))
              )
            ),
            McpClientHandlers.Roots.layerStatic([])
          ))
        )
        const call = yield* Effect.fork(session.callTool({ name: "t", arguments: {} }))
        yield* eventually(Effect.sync(() => started), (s) => s)
        server.hangUp()
        const error = failureOf(yield* call.await)
        assert.strictEqual(error._tag, "TransportCrashed")
        assert.isTrue(interrupted)
        assert.strictEqual(server.received.filter((m) => m.method === "tools/call").length, 1)
      }))

    it.scoped("a handler's refusal fails the call with its error; logLevel goes with every request", () =>
      Effect.gen(function*() {
        const server = peer({
          modern: true,
          answer: (msg, send) => {
            if (msg.method === "tools/call") send({ jsonrpc: "2.0", id: msg.id, result: inputRequired() })
          }
        })
        const session = yield* McpSession.make({ transport: server.transport, clientInfo, logLevel: "debug" }).pipe(
          Effect.provide(Layer.merge(
            McpClientHandlers.Elicitation.layer(() => Effect.fail(new McpClientHandlers.HandlerError({ detail: "no user" }))),
            McpClientHandlers.Roots.layerStatic([])
          ))
        )
        const error = failureOf(yield* Effect.exit(session.callTool({ name: "t", arguments: {} })))
        assert.strictEqual(error._tag, "ProtocolError")
        assert.match((error as McpError.ProtocolError).detail, /no user/)
        const call = server.received.find((m) => m.method === "tools/call")
        assert.strictEqual(call!.params._meta["io.modelcontextprotocol/logLevel"], "debug")
      }))
  })
})
