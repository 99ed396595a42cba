/**
 * A toolkit from a toolset (many servers, prefixed names, calls routed), and the stream of toolkits that
 * follows `tools/list_changed`, from a toolset and from a session.
 */
import { McpToolkit } from "@effect-mcp/ai"
import type { McpTransport } from "@effect-mcp/session";
import { McpServers, McpSession, McpSessionPolicy, McpSessionPool, McpToolset } from "@effect-mcp/session"
import * as LanguageModel from "@effect/ai/LanguageModel"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { dynamic } from "../../session/test/utils.js"
import * as ScriptedModel from "../examples/ScriptedModel.js"

const clientInfo = { name: "ai-toolset-test", version: "0.0.0" }
const policy = McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.spaced("1 second") })

/** server-everything's tools are read-only, as these are: the toolkit's tools carry the annotation */
const readOnly = { annotations: { readOnlyHint: true } }

const toolset = (transports: Record<string, McpTransport.McpTransport>) =>
  Effect.gen(function*() {
    const entries: Record<string, unknown> = {}
    for (const name of Object.keys(transports)) entries[name] = { url: `http://127.0.0.1:9/${name}` }
    const servers = yield* McpServers.fromJson({ mcpServers: entries })
    const pool = yield* McpSessionPool.make({ servers, transport: (server) => transports[server.name]!, clientInfo, policy })
    return yield* McpToolset.make().pipe(Effect.provideService(McpSessionPool.McpSessionPool, pool))
  })

const callOnce = (toolkit: McpToolkit.McpToolkit, name: string) =>
  Effect.gen(function*() {
    const model = yield* ScriptedModel.make([() => Effect.succeed(ScriptedModel.calls(ScriptedModel.toolCall("1", name, {})))])
    const response = yield* LanguageModel.generateText({ prompt: "go", toolkit: toolkit.toolkit }).pipe(
      Effect.provide(toolkit.layer),
      Effect.provide(model.layer)
    )
    return (response.toolResults[0]!.result as McpToolkit.ToolResult).content
  })

describe("McpToolkit over a toolset", () => {
  it.scoped("the toolset's tools, by their names in the set; a call goes to its server", () =>
    Effect.gen(function*() {
      const a = dynamic("a", ["t"], readOnly)
      const b = dynamic("b", ["t", "u"], readOnly)
      const set = yield* toolset({ a: a.transport, b: b.transport })
      const toolkit = yield* McpToolkit.make(set)
      assert.deepStrictEqual(Object.keys(toolkit.toolkit.tools), ["a__t", "b__t", "b__u"])
      assert.deepStrictEqual(yield* callOnce(toolkit, "b__t"), [{ type: "text", text: "b:t" }])
      assert.deepStrictEqual(yield* callOnce(toolkit, "a__t"), [{ type: "text", text: "a:t" }])
    }))

  it.scoped("changes: a new toolkit when a server's tools change, whose new tool can be called", () =>
    Effect.gen(function*() {
      const a = dynamic("a", ["t"], readOnly)
      const set = yield* toolset({ a: a.transport })
      yield* set.ready
      const queue = yield* Queue.unbounded<McpToolkit.McpToolkit>()
      yield* McpToolkit.changes(set).pipe(Stream.runForEach((t) => Queue.offer(queue, t)), Effect.forkScoped)
      const first = yield* Queue.take(queue)
      assert.deepStrictEqual(first.tools.map((t) => t.name), ["a__t"])
      yield* a.add("v")
      const second = yield* Queue.take(queue).pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(second.tools.map((t) => t.name), ["a__t", "a__v"])
      assert.deepStrictEqual(yield* callOnce(second, "a__v"), [{ type: "text", text: "a:v" }])
    }), 10_000)

  it.scopedLive("changes over a session: listed again on list_changed", () =>
    Effect.gen(function*() {
      const a = dynamic("a", ["t"], readOnly)
      const session = yield* McpSession.make({ transport: a.transport, clientInfo })
      const queue = yield* Queue.unbounded<McpToolkit.McpToolkit>()
      yield* McpToolkit.changes(session).pipe(Stream.runForEach((t) => Queue.offer(queue, t)), Effect.forkScoped)
      assert.deepStrictEqual((yield* Queue.take(queue)).tools.map((t) => t.name), ["t"])
      // the notifications are followed once the first toolkit is out (a real 50 ms for the subscription)
      yield* Effect.sleep("50 millis")
      yield* a.add("v")
      const second = yield* Queue.take(queue).pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(second.tools.map((t) => t.name), ["t", "v"])
    }), 10_000)
})
