/**
 * A `LanguageModel` that plays a script instead of calling a provider: no network. Each turn reads the
 * prompt so far (the tool results included) and answers with the parts it returns, e.g. tool calls, then
 * text. It records the tools it was offered, with the JSON Schema a provider would have sent.
 */
import type { McpToolkit } from "@effect-mcp/ai"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as Tool from "@effect/ai/Tool"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"

export interface Offered {
  readonly name: string
  readonly description: string | undefined
  readonly parameters: unknown
}

export type Turn = (prompt: Prompt.Prompt) => Effect.Effect<ReadonlyArray<Response.PartEncoded>>

/** The results of the last tool message, by tool call id. */
export const lastToolResults = (prompt: Prompt.Prompt): ReadonlyArray<Prompt.ToolResultPart> => {
  const last = prompt.content[prompt.content.length - 1]
  return last?.role === "tool" ? last.content : []
}

export const toolCall = (id: string, name: string, params: unknown): Response.PartEncoded => ({
  type: "tool-call",
  id,
  name,
  params
})

export const text = (value: string): ReadonlyArray<Response.PartEncoded> => [
  { type: "text", text: value },
  { type: "finish", reason: "stop", usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 } }
]

export const calls = (...parts: ReadonlyArray<Response.PartEncoded>): ReadonlyArray<Response.PartEncoded> => [
  ...parts,
  { type: "finish", reason: "tool-calls", usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 } }
]

export const make = (script: ReadonlyArray<Turn>) =>
  Effect.gen(function*() {
    let next = 0
    const offered: Array<ReadonlyArray<Offered>> = []
    const model = yield* LanguageModel.make({
      generateText: (options) =>
        Effect.suspend(() => {
          offered.push(options.tools.map((tool) => ({
            name: tool.name,
            description: Tool.getDescription(tool as McpToolkit.McpTool),
            parameters: Tool.getJsonSchema(tool as McpToolkit.McpTool)
          })))
          const turn = script[next++]
          return turn === undefined
            ? Effect.dieMessage(`the script has ${script.length} turns; turn ${next} was asked for`)
            : Effect.map(turn(options.prompt), (parts) => [...parts])
        }),
      streamText: () => Stream.dieMessage("the scripted model does not stream")
    })
    return {
      layer: Layer.succeed(LanguageModel.LanguageModel, model),
      /** The tools offered at each turn. */
      offered: (): ReadonlyArray<ReadonlyArray<Offered>> => offered,
      turns: (): number => next
    }
  })
