/**
 * 2026-07-28's rounds of input against the official 2.x server (`fixtures/modern-server.mjs` with INPUT=1),
 * over stdio: the same `McpClientHandlers` that answer a legacy server's requests answer its
 * `input_required` results, and the caller sees one call.
 */
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import type { McpError } from "@effect-mcp/session"
import { McpClientHandlers, McpSession } from "@effect-mcp/session"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { clientInfo, failureOf, modernFixture } from "./utils.js"

const transport = NodeMcpTransport.stdio({
  command: process.execPath,
  args: [modernFixture, "stdio"],
  env: { LEGACY: "reject", INPUT: "1" }
})

const text = (content: ReadonlyArray<{ type: string }>) => (content[0] as unknown as { text: string }).text

const Handlers = Layer.mergeAll(
  McpClientHandlers.Elicitation.layer(() => Effect.succeed({ action: "accept" as const, content: { confirm: true } })),
  McpClientHandlers.Sampling.layer((params) =>
    Effect.succeed({
      role: "assistant" as const,
      model: "test-model",
      content: { type: "text" as const, text: `at most ${params.maxTokens} tokens` }
    })
  ),
  McpClientHandlers.Roots.layerStatic([{ uri: "file:///work", name: "work" }])
)

describe("MCP 2026-07-28 input_required (the official 2.x server)", () => {
  it.scoped("a tool that needs an elicitation: one call, the answer with its defaults, the requestState echoed", () =>
    Effect.gen(function*() {
      const session = yield* McpSession.make({ transport, clientInfo, requestTimeout: "20 seconds" }).pipe(Effect.provide(Handlers))
      assert.strictEqual(session.protocolVersion, "2026-07-28")
      const result = yield* session.callTool({ name: "confirm", arguments: { env: "prod" } })
      assert.deepStrictEqual(JSON.parse(text(result.content)), { answer: { note: "none", confirm: true }, state: "deploy:prod" })
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("a sampling and the roots in one round", () =>
    Effect.gen(function*() {
      const session = yield* McpSession.make({ transport, clientInfo, requestTimeout: "20 seconds" }).pipe(Effect.provide(Handlers))
      const result = yield* session.callTool({ name: "summarise", arguments: {} })
      const responses = JSON.parse(text(result.content)) as Record<string, any>
      assert.strictEqual(responses.sample.model, "test-model")
      assert.strictEqual(responses.sample.content.text, "at most 5 tokens")
      assert.deepStrictEqual(responses.roots.roots, [{ uri: "file:///work", name: "work" }])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("the round limit: a server that always asks again fails the call with ProtocolError", () =>
    Effect.gen(function*() {
      const session = yield* McpSession.make({ transport, clientInfo, requestTimeout: "20 seconds", maxInputRounds: 4 }).pipe(
        Effect.provide(Handlers)
      )
      const error = failureOf(yield* Effect.exit(session.callTool({ name: "endless", arguments: {} })))
      assert.strictEqual(error._tag, "ProtocolError")
      assert.match((error as McpError.ProtocolError).detail, /more than 4 times/)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("without the handler the server needs, elicitation is not advertised: the server refuses with -32021", () =>
    Effect.gen(function*() {
      const session = yield* McpSession.make({ transport, clientInfo, requestTimeout: "20 seconds" }).pipe(
        Effect.provide(McpClientHandlers.Roots.layerStatic([]))
      )
      const error = failureOf(yield* Effect.exit(session.callTool({ name: "confirm", arguments: { env: "prod" } })))
      assert.strictEqual(error._tag, "ProtocolError")
      assert.strictEqual((error as McpError.ProtocolError).code, -32021)
    }).pipe(Effect.provide(NodeContext.layer)))
})
