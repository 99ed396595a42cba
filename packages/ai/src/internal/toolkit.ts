import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import type { McpSession, McpToolset } from "@effect-mcp/session"
import type { RequestError } from "@effect-mcp/session/McpError"
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Api from "../McpToolkit.js"
import { Source, ToolFailure, ToolResult } from "../McpToolkit.js"
import { toParameters } from "./jsonSchema.js"

/** @internal */
export type ListError = RequestError

type Call = (
  name: string,
  args: Record<string, unknown>,
  options: McpSession.CallToolOptions
) => Effect.Effect<CallToolResult, ToolFailure>

const isToolset = (source: Api.McpToolkit.Source): source is McpToolset.McpToolset.Service => "changes" in source

/** @internal */
export const tool = (entry: McpToolset.Tool): Api.McpTool => {
  const annotations = entry.tool.annotations
  let made = Tool.make(entry.name, {
    ...(entry.tool.description !== undefined ? { description: entry.tool.description } : {}),
    success: ToolResult,
    failure: ToolFailure
  }).setParameters(toParameters(entry.tool.inputSchema)) as unknown as Api.McpTool
  const title = entry.tool.title ?? annotations?.title
  if (title !== undefined) made = made.annotate(Tool.Title, title)
  if (annotations?.readOnlyHint !== undefined) made = made.annotate(Tool.Readonly, annotations.readOnlyHint)
  if (annotations?.destructiveHint !== undefined) made = made.annotate(Tool.Destructive, annotations.destructiveHint)
  if (annotations?.idempotentHint !== undefined) made = made.annotate(Tool.Idempotent, annotations.idempotentHint)
  if (annotations?.openWorldHint !== undefined) made = made.annotate(Tool.OpenWorld, annotations.openWorldHint)
  return made.annotate(Source, { server: entry.server, tool: entry.tool })
}

/** A crash that the replay rule did not repair, or a server that is down: the tool is unavailable. */
const isUnavailable = (error: ToolFailure): boolean =>
  error._tag === "TransportCrashed" || error._tag === "GaveUp" ||
  (error._tag === "ToolsetError" && error.reason === "Unavailable")

const unavailableResult = (name: string, error: ToolFailure): CallToolResult => ({
  content: [{ type: "text", text: `The tool "${name}" is unavailable: ${error.message}. It may not have run.` }],
  isError: true
})

/** @internal */
export const fromTools = (
  tools: ReadonlyArray<McpToolset.Tool>,
  call: Call,
  options?: Api.McpToolkit.Options
): Api.McpToolkit => {
  const selected = options?.where !== undefined ? tools.filter(options.where) : tools
  const toolkit = Toolkit.make(...selected.map(tool)) as unknown as Toolkit.Toolkit<Record<string, Api.McpTool>>
  const callOptions: McpSession.CallToolOptions = {
    toolErrors: "return",
    ...(options?.replay !== undefined ? { replay: options.replay } : {}),
    ...(options?.timeout !== undefined ? { timeout: options.timeout } : {})
  }
  const handlers: Record<string, (params: Record<string, unknown>) => Effect.Effect<ToolResult, ToolFailure>> = {}
  for (const entry of selected) {
    const name = entry.name
    handlers[name] = (params) => {
      const result = call(name, params, callOptions)
      return (options?.onUnavailable === "result"
        ? Effect.catchIf(result, isUnavailable, (error) =>
          Effect.logWarning("tool unavailable; the model is told so").pipe(
            Effect.annotateLogs({ module: "McpToolkit", method: "call", tool: name, error: error.message }),
            Effect.as(unavailableResult(name, error))
          ))
        : result) as Effect.Effect<ToolResult, ToolFailure>
    }
  }
  return {
    toolkit,
    layer: toolkit.toLayer(handlers as any) as any,
    tools: selected
  }
}

const sessionCall = (session: McpSession.McpSession.Service): Call => (name, args, options) =>
  session.callTool({ name, arguments: args }, options)

const sessionTools = (session: McpSession.McpSession.Service) =>
  Effect.map(
    session.listTools(),
    (tools) => tools.map((tool): McpToolset.Tool => ({ name: tool.name, server: session.serverInfo.name, tool }))
  )

/** @internal */
export const make = (
  source: Api.McpToolkit.Source,
  options?: Api.McpToolkit.Options
): Effect.Effect<Api.McpToolkit, ListError> =>
  isToolset(source)
    ? Effect.map(source.ready, (state) => fromTools(state.tools, source.call, options))
    : Effect.map(sessionTools(source), (tools) => fromTools(tools, sessionCall(source), options))

const sameTools = (a: ReadonlyArray<McpToolset.Tool>, b: ReadonlyArray<McpToolset.Tool>): boolean =>
  a.length === b.length && a.every((t, i) => t.name === b[i]!.name && t.server === b[i]!.server &&
    JSON.stringify(t.tool) === JSON.stringify(b[i]!.tool))

/** @internal */
export const changes = (
  source: Api.McpToolkit.Source,
  options?: Api.McpToolkit.Options
): Stream.Stream<Api.McpToolkit, ListError> => {
  if (isToolset(source)) {
    return source.changes.pipe(
      Stream.map((state) => state.tools),
      Stream.changesWith(sameTools),
      Stream.map((tools) => fromTools(tools, source.call, options))
    )
  }
  const call = sessionCall(source)
  const listChanged = source.notifications.pipe(
    Stream.filter((n) => n.method === "notifications/tools/list_changed")
  )
  return Stream.concat(Stream.make(undefined), listChanged).pipe(
    Stream.mapEffect(() => sessionTools(source)),
    Stream.changesWith(sameTools),
    Stream.map((tools) => fromTools(tools, call, options))
  )
}
