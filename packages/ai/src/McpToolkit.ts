/**
 * The tools of MCP servers as an `@effect/ai` `Toolkit`: each tool's parameters decoded with an Effect
 * `Schema` converted from the tool's JSON Schema, while the model is sent the JSON Schema the server
 * published; the handlers (a `Layer`) call through a resilient `McpSession` or an `McpToolset`, so a crash
 * follows the session's replay rules.
 *
 * @since 0.1.0
 */
import type * as Tool from "@effect/ai/Tool"
import type * as Toolkit from "@effect/ai/Toolkit"
import type { McpSession, McpSessionPolicy, McpToolset } from "@effect-mcp/session"
import type { RequestError } from "@effect-mcp/session/McpError"
import {
  Cancelled,
  GaveUp,
  InputRequired,
  ProtocolError,
  RequestTimeout,
  ToolError,
  TransportCrashed
} from "@effect-mcp/session/McpError"
import { ToolsetError } from "@effect-mcp/session/McpToolset"
import type { CallToolResult, Tool as SdkTool } from "@modelcontextprotocol/sdk/types.js"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import * as internalSchema from "./internal/jsonSchema.js"
import * as internal from "./internal/toolkit.js"

/**
 * What a tool answers, as the model is given it: the server's `CallToolResult` (`isError: true` included).
 *
 * @since 0.1.0
 * @category models
 */
export const ToolResult = Schema.Struct({
  content: Schema.Array(Schema.Unknown),
  structuredContent: Schema.optionalWith(Schema.Unknown, { exact: true }),
  isError: Schema.optionalWith(Schema.Boolean, { exact: true })
})

/**
 * @since 0.1.0
 * @category models
 */
export type ToolResult = typeof ToolResult.Type

/**
 * How a tool call can fail: the session's typed failures, and the toolset's (unknown or unavailable tool).
 *
 * @since 0.1.0
 * @category errors
 */
export const ToolFailure = Schema.Union(
  TransportCrashed,
  RequestTimeout,
  ProtocolError,
  InputRequired,
  Cancelled,
  GaveUp,
  ToolError,
  ToolsetError
)

/**
 * @since 0.1.0
 * @category errors
 */
export type ToolFailure = typeof ToolFailure.Type

/**
 * A tool's parameters: a struct of the JSON Schema's properties (and the other properties it allows).
 *
 * @since 0.1.0
 * @category models
 */
export type Parameters = Schema.Struct<Record<string, Schema.Schema<any>>>

/**
 * An MCP tool as an `@effect/ai` tool. Its failures reach the caller of `generateText` (`failureMode: "error"`).
 *
 * @since 0.1.0
 * @category models
 */
export type McpTool = Tool.Tool<string, {
  readonly parameters: Parameters
  readonly success: typeof ToolResult
  readonly failure: typeof ToolFailure
  readonly failureMode: "error"
}>

/**
 * The tool annotation carrying the MCP tool as its server listed it, and that server's name (the toolset's;
 * a session's `serverInfo.name`).
 *
 * @since 0.1.0
 * @category models
 */
export class Source extends Context.Tag("@effect-mcp/ai/McpToolkit/Source")<Source, {
  readonly server: string
  readonly tool: SdkTool
}>() {}

/**
 * A toolkit of MCP tools, with the layer of their handlers.
 *
 * @since 0.1.0
 * @category models
 */
export interface McpToolkit {
  /** Pass it to `LanguageModel.generateText({ prompt, toolkit })`, with `layer` provided. */
  readonly toolkit: Toolkit.Toolkit<Record<string, McpTool>>
  /** The handlers of every tool of `toolkit`. */
  readonly layer: Layer.Layer<Tool.Handler<string>>
  /** The MCP tools, in the toolkit's order, by their names in the toolkit. */
  readonly tools: ReadonlyArray<McpToolset.Tool>
}

/**
 * @since 0.1.0
 */
export declare namespace McpToolkit {
  /**
   * Where the tools come from: a toolset (its current set, following its changes), or one session.
   *
   * @since 0.1.0
   * @category models
   */
  export type Source = McpToolset.McpToolset.Service | McpSession.McpSession.Service

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /**
     * What a call the transport crash left unanswered, and that the replay rule did not send again, gives:
     * `"fail"` (default) fails `generateText` with the typed error (`TransportCrashed`, `GaveUp`, or the
     * toolset's `ToolsetError` with reason `Unavailable`); `"result"` answers the model with an error
     * result saying the tool is unavailable and why (and logs a warning).
     */
    readonly onUnavailable?: "fail" | "result" | undefined
    /** Overrides the session's replay rule for every call of the toolkit. */
    readonly replay?: McpSessionPolicy.ReplayRule | undefined
    /** Per call, overrides the session's `requestTimeout`. */
    readonly timeout?: McpSession.RequestOptions["timeout"]
    /** Which tools, by name in the toolkit. Default: all. */
    readonly where?: ((tool: McpToolset.Tool) => boolean) | undefined
  }
}

/**
 * The toolkit of the source's current tools. A toolset's once it is `ready` (each server connected or
 * unavailable); a session's from `tools/list`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  source: McpToolkit.Source,
  options?: McpToolkit.Options
) => Effect.Effect<McpToolkit, RequestError> = internal.make

/**
 * A toolkit per tool set: the current one, then a new one each time the tools change (the toolset's
 * `changes`; for a session, each `notifications/tools/list_changed`, listing its tools again).
 *
 * @since 0.1.0
 * @category constructors
 */
export const changes: (
  source: McpToolkit.Source,
  options?: McpToolkit.Options
) => Stream.Stream<McpToolkit, RequestError> = internal.changes

/**
 * The toolkit of these tools, whose handlers call `call` (e.g. a toolset's).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromTools: (
  tools: ReadonlyArray<McpToolset.Tool>,
  call: (name: string, args: Record<string, unknown>, options: McpSession.CallToolOptions) => Effect.Effect<
    CallToolResult,
    ToolFailure
  >,
  options?: McpToolkit.Options
) => McpToolkit = internal.fromTools

/**
 * An MCP tool as an `@effect/ai` tool: name, description, the annotations `Title`, `Readonly`,
 * `Destructive`, `Idempotent`, `OpenWorld` and `Source`, and parameters from `parameters`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const tool: (tool: McpToolset.Tool) => McpTool = internal.tool

/**
 * The `Schema` decoding a tool's arguments, from its `inputSchema`, annotated with that JSON Schema so that
 * `Tool.getJsonSchema` gives it back unchanged. A schema with no `Schema` equivalent decodes any object.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parameters: (inputSchema: SdkTool["inputSchema"]) => Parameters = internalSchema.toParameters

/**
 * A JSON Schema as a `Schema` of what it accepts, as far as `Schema` can say: see docs/ai.md for the mapping.
 * A node with a keyword that `Schema` cannot state (`not`, `if`, `uniqueItems`, ...) decodes as `Unknown`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toSchema: (jsonSchema: unknown) => Schema.Schema<unknown> = internalSchema.toSchema
