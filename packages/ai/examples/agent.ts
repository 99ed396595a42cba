/**
 * An agent over MCP tools: `@effect/ai`'s `Chat` with the toolkit of a resilient session's tools, asking
 * the model again while it calls tools. The model here is scripted (see `ScriptedModel.ts`); any
 * `LanguageModel` layer (OpenAI, Anthropic, ...) takes its place unchanged.
 */
import { McpToolkit } from "@effect-mcp/ai"
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import { McpSession, McpSessionPolicy } from "@effect-mcp/session"
import * as Chat from "@effect/ai/Chat"
import * as Effect from "effect/Effect"
import * as ScriptedModel from "./ScriptedModel.js"

/** Asks `question`; answers the model's tool calls through the session until it answers in text. */
export const agent = (question: string, options?: McpToolkit.McpToolkit.Options) =>
  Effect.gen(function*() {
    const { layer, toolkit } = yield* McpToolkit.make(yield* McpSession.McpSession, options)
    const run = Effect.gen(function*() {
      const chat = yield* Chat.empty
      let response = yield* chat.generateText({ prompt: question, toolkit })
      for (let step = 1; response.toolCalls.length > 0; step++) {
        if (step === 8) return yield* Effect.dieMessage("the model is still calling tools after 8 steps")
        response = yield* chat.generateText({ prompt: [], toolkit })
      }
      return response.text
    })
    return yield* Effect.provide(run, layer)
  }).pipe(Effect.withSpan("agent"))

/** A resilient session to a stdio server: a crash is followed by a new child; read-only calls cut short are replayed. */
export const session = (command: string, args: ReadonlyArray<string>) =>
  McpSession.layerResilient(
    { transport: NodeMcpTransport.stdio({ command, args: [...args] }), clientInfo: { name: "agent", version: "0.1.0" } },
    McpSessionPolicy.make({ replay: "Idempotent", keepAlive: false })
  )

const lastNumber = (text: string): number => Number(/(-?\d+(?:\.\d+)?)(?!.*\d)/s.exec(text)?.[1])
const resultText = (result: unknown): string =>
  ((result as McpToolkit.ToolResult).content as ReadonlyArray<{ readonly text?: string }>).map((c) => c.text ?? "")
    .join("\n")

/**
 * The model's part: add 2 and 3; then (after `meanwhile`, e.g. the server dying while the model thinks) echo
 * the sum; then answer with what the tools said.
 */
export const script = (meanwhile: Effect.Effect<void>): ReadonlyArray<ScriptedModel.Turn> => {
  let sum = NaN
  return [
    () => Effect.succeed(ScriptedModel.calls(ScriptedModel.toolCall("1", "get-sum", { a: 2, b: 3 }))),
    (prompt) =>
      Effect.gen(function*() {
        sum = lastNumber(resultText(ScriptedModel.lastToolResults(prompt)[0]!.result))
        yield* meanwhile
        return ScriptedModel.calls(ScriptedModel.toolCall("2", "echo", { message: `the sum is ${sum}` }))
      }),
    (prompt) => {
      const echoed = resultText(ScriptedModel.lastToolResults(prompt)[0]!.result)
      return Effect.succeed(ScriptedModel.text(`2 + 3 = ${sum} (${echoed})`))
    }
  ]
}
