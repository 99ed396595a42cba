import { McpToolkit } from "@effect-mcp/ai"
import { McpError, McpSession, McpSessionPolicy, McpTest } from "@effect-mcp/session"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import * as Tool from "@effect/ai/Tool"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as ScriptedModel from "../examples/ScriptedModel.js"

const clientInfo = { name: "ai-test", version: "0.0.0" }

const tick = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
const eventually = <A, E>(effect: Effect.Effect<A, E>, predicate: (a: A) => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1000; i++) {
      const a = yield* effect
      if (predicate(a)) return a
      yield* tick
    }
    return yield* Effect.dieMessage("condition not met within 1000 turns")
  })

const setup = (replay: McpSessionPolicy.ReplayRule) =>
  Effect.gen(function*() {
    const server = yield* McpTest.server()
    const { faults, transport } = yield* McpTest.faulty(server.transport)
    const { lifecycle, session } = yield* McpSession.makeResilient(
      { transport, clientInfo },
      McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.spaced("1 second"), replay })
    )
    const events: Array<McpSession.LifecycleEvent> = []
    yield* lifecycle.events.pipe(Stream.runForEach((e) => Effect.sync(() => void events.push(e))), Effect.forkScoped)
    return { server, faults, session, lifecycle, events }
  })

/** One `generateText` in which the model calls these tools. */
const generate = (
  session: McpSession.McpSession.Service,
  toolCalls: ReadonlyArray<readonly [name: string, params: unknown]>,
  options?: McpToolkit.McpToolkit.Options
) =>
  Effect.gen(function*() {
    const { layer, toolkit } = yield* McpToolkit.make(session, options)
    const model = yield* ScriptedModel.make([
      () => Effect.succeed(ScriptedModel.calls(...toolCalls.map(([name, params], i) => ScriptedModel.toolCall(`c${i}`, name, params))))
    ])
    return yield* LanguageModel.generateText({ prompt: "go", toolkit }).pipe(
      Effect.provide(layer),
      Effect.provide(model.layer)
    )
  })

const texts = (result: unknown) =>
  (result as McpToolkit.ToolResult).content.map((c) => (c as { text: string }).text)

describe("McpToolkit", () => {
  it.scoped("a round trip: the model's calls run on the server, results (an error result too) go back to it", () =>
    Effect.gen(function*() {
      const { server, session } = yield* setup("NotDelivered")
      const { layer, tools, toolkit } = yield* McpToolkit.make(session)
      assert.includeMembers(tools.map((t) => t.name), ["echo", "add", "fail", "block-readonly"])
      const model = yield* ScriptedModel.make([
        () =>
          Effect.succeed(ScriptedModel.calls(
            ScriptedModel.toolCall("1", "echo", { message: "hi" }),
            ScriptedModel.toolCall("2", "add", { a: 2, b: 40 }),
            ScriptedModel.toolCall("3", "fail", { message: "no such city" })
          )),
        (prompt) => {
          const results = ScriptedModel.lastToolResults(prompt)
          return Effect.succeed(ScriptedModel.text(results.map((r) => texts(r.result).join("")).join(" | ")))
        }
      ])
      const first = yield* LanguageModel.generateText({ prompt: "go", toolkit }).pipe(Effect.provide(layer))
        .pipe(Effect.provide(model.layer))
      assert.deepStrictEqual(first.toolResults.map((r) => [r.name, r.isFailure, texts(r.result)]), [
        ["echo", false, ["Echo: hi"]],
        ["add", false, ["42"]],
        // the tool's error result is a result for the model, not a failure of generateText
        ["fail", false, ["no such city"]]
      ])
      assert.isTrue((first.toolResults[2]!.result as McpToolkit.ToolResult).isError)
      assert.strictEqual(yield* server.executions("echo"), 1)

      const second = yield* LanguageModel.generateText({
        prompt: Prompt.merge(Prompt.make("go"), Prompt.fromResponseParts(first.content)),
        toolkit
      }).pipe(Effect.provide(layer), Effect.provide(model.layer))
      assert.strictEqual(second.text, "Echo: hi | 42 | no such city")
      // what the model was offered: the server's schemas
      const listed = yield* session.listTools()
      for (const offered of model.offered()[0]!) {
        assert.deepStrictEqual(offered.parameters, listed.find((t) => t.name === offered.name)!.inputSchema)
      }
    }))

  it.scoped("arguments the tool's schema rejects fail the call before it reaches the server", () =>
    Effect.gen(function*() {
      const { server, session } = yield* setup("NotDelivered")
      const error = yield* Effect.flip(generate(session, [["add", { a: "2", b: 40 }]]))
      assert.strictEqual(error._tag, "MalformedOutput")
      assert.strictEqual(yield* server.executions("add"), 0)
    }))

  describe("a crash during a tool call", () => {
    /** Starts the call, crashes the transport once the server runs it, waits for the rebuilt session. */
    const crashDuring = (
      tool: string,
      replay: McpSessionPolicy.ReplayRule,
      options?: McpToolkit.McpToolkit.Options
    ) =>
      Effect.gen(function*() {
        const env = yield* setup(replay)
        const fiber = yield* Effect.fork(generate(env.session, [[tool, {}]], options))
        yield* eventually(env.server.executions(tool), (n) => n === 1)
        yield* env.faults.crash(new McpError.StreamClosed({ detail: "cut" }))
        yield* eventually(env.lifecycle.state, (s) => s._tag === "Connected" && s.generation === 2)
        return { ...env, fiber }
      })

    it.scoped("Idempotent: a read-only tool is replayed on the new session and its result reaches the model", () =>
      Effect.gen(function*() {
        const { events, fiber, server } = yield* crashDuring("block-readonly", "Idempotent")
        yield* eventually(server.executions("block-readonly"), (n) => n === 2)
        yield* server.release
        const response = yield* Fiber.join(fiber)
        assert.deepStrictEqual(texts(response.toolResults[0]!.result), ["released"])
        assert.deepStrictEqual(
          events.flatMap((e) => (e._tag === "Replayed" ? [e.target] : [])),
          ["block-readonly"]
        )
      }))

    it.scoped("Idempotent: a tool that is not read-only is not replayed; generateText fails with the typed crash", () =>
      Effect.gen(function*() {
        const { fiber, server } = yield* crashDuring("block", "Idempotent")
        const error = yield* Effect.flip(Fiber.join(fiber))
        assert.isTrue(McpError.isTransportCrashed(error))
        assert.strictEqual((error as McpError.TransportCrashed).delivery, "MaybeDelivered")
        for (let i = 0; i < 20; i++) yield* tick
        assert.strictEqual(yield* server.executions("block"), 1)
      }))

    it.scoped("NotDelivered: a call that may have run is not replayed; the application catches the crash", () =>
      Effect.gen(function*() {
        const { fiber, server } = yield* crashDuring("block-readonly", "NotDelivered")
        const caught = yield* Fiber.join(fiber).pipe(
          Effect.as("answered"),
          Effect.catchTag("TransportCrashed", (e) => Effect.succeed(`caught ${e.delivery}`))
        )
        assert.strictEqual(caught, "caught MaybeDelivered")
        assert.strictEqual(yield* server.executions("block-readonly"), 1)
      }))

    it.scoped("NotDelivered: a call refused before it reached the server is replayed and runs once", () =>
      Effect.gen(function*() {
        const { faults, server, session } = yield* setup("NotDelivered")
        yield* faults.failNextSends(new McpError.HttpStatus({ status: 403, method: "POST", body: "" }))
        const response = yield* generate(session, [["increment", {}]])
        assert.deepStrictEqual(texts(response.toolResults[0]!.result), ["1"])
        assert.strictEqual(yield* server.executions("increment"), 1)
      }))

    it.scoped("Always: even a tool that is not idempotent is replayed (at least once)", () =>
      Effect.gen(function*() {
        const { fiber, server } = yield* crashDuring("block", "Always")
        yield* eventually(server.executions("block"), (n) => n === 2)
        yield* server.release
        const response = yield* Fiber.join(fiber)
        assert.deepStrictEqual(texts(response.toolResults[0]!.result), ["released"])
      }))

    it.scoped("Never: not even a read-only tool is replayed", () =>
      Effect.gen(function*() {
        const { fiber, server } = yield* crashDuring("block-readonly", "Never")
        assert.isTrue(McpError.isTransportCrashed(yield* Effect.flip(Fiber.join(fiber))))
        assert.strictEqual(yield* server.executions("block-readonly"), 1)
      }))

    it.scoped("the toolkit's replay option overrides the session's rule", () =>
      Effect.gen(function*() {
        const { fiber } = yield* crashDuring("block-readonly", "Idempotent", { replay: "Never" })
        assert.isTrue(McpError.isTransportCrashed(yield* Effect.flip(Fiber.join(fiber))))
      }))

    it.scoped("onUnavailable: \"result\": the model is told the tool is unavailable, as an error result", () =>
      Effect.gen(function*() {
        const { fiber, server } = yield* crashDuring("block", "NotDelivered", { onUnavailable: "result" })
        const response = yield* Fiber.join(fiber)
        const result = response.toolResults[0]!
        assert.isFalse(result.isFailure)
        assert.isTrue((result.result as McpToolkit.ToolResult).isError)
        assert.match(texts(result.result)[0]!, /^The tool "block" is unavailable: .*cut.*It may not have run\.$/)
        assert.strictEqual(yield* server.executions("block"), 1)
      }))
  })

  it.scoped("changes: the first toolkit is the current set, with `where` applied", () =>
    Effect.gen(function*() {
      const { session } = yield* setup("NotDelivered")
      const toolkits = yield* McpToolkit.changes(session, { where: (t) => t.name !== "block" }).pipe(
        Stream.take(1),
        Stream.runCollect
      )
      const first = Chunk.unsafeHead(toolkits)
      assert.notInclude(first.tools.map((t) => t.name), "block")
      assert.strictEqual(Tool.getDescription(first.toolkit.tools["echo"]!), first.tools.find((t) => t.name === "echo")!.tool.description)
    }))
})
