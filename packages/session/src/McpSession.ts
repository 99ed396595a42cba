/**
 * One live, initialized MCP client session over a supervised transport.
 *
 * Every request races the transport's supervising fiber: when the transport dies, every pending request
 * fails at once with `TransportCrashed` and its reason; no request outlives its transport.
 *
 * @since 0.1.0
 */
import type {
  CallToolRequest,
  CallToolResult,
  ClientCapabilities,
  CompleteRequest,
  CompleteResult,
  GetPromptRequest,
  GetPromptResult,
  Implementation,
  LoggingLevel,
  Progress,
  Prompt,
  ReadResourceRequest,
  ReadResourceResult,
  Resource,
  ResourceTemplate,
  ServerCapabilities,
  ServerNotification,
  Tool
} from "@modelcontextprotocol/sdk/types.js"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/session.js"
import type { InitializeFailed, RequestError, ToolError, TransportCrashed } from "./McpError.js"
import type { McpTransport } from "./McpTransport.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class McpSession extends Context.Tag("@effect-mcp/session/McpSession")<McpSession, McpSession.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace McpSession {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The transport's description (no secrets). */
    readonly transport: string
    readonly serverInfo: Implementation
    readonly serverCapabilities: ServerCapabilities
    readonly instructions: Option.Option<string>

    /** Calls a tool. Mirrors the SDK's `callTool` parameters. */
    readonly callTool: (
      params: CallToolRequest["params"],
      options?: CallToolOptions
    ) => Effect.Effect<CallToolResult, RequestError | ToolError>
    /**
     * Calls a tool and streams its progress: every `Progress` the server sends, in order and the last one
     * included, then the `Result`; the stream ends after it.
     */
    readonly callToolStream: (
      params: CallToolRequest["params"],
      options?: CallToolStreamOptions
    ) => Stream.Stream<ToolEvent, RequestError | ToolError>
    /** Lists all tools, following every page. */
    readonly listTools: (options?: RequestOptions) => Effect.Effect<ReadonlyArray<Tool>, RequestError>
    /** Lists all resources, following every page. */
    readonly listResources: (options?: RequestOptions) => Effect.Effect<ReadonlyArray<Resource>, RequestError>
    /** Lists all resource templates, following every page. */
    readonly listResourceTemplates: (
      options?: RequestOptions
    ) => Effect.Effect<ReadonlyArray<ResourceTemplate>, RequestError>
    readonly readResource: (
      params: ReadResourceRequest["params"],
      options?: RequestOptions
    ) => Effect.Effect<ReadResourceResult, RequestError>
    /** Lists all prompts, following every page. */
    readonly listPrompts: (options?: RequestOptions) => Effect.Effect<ReadonlyArray<Prompt>, RequestError>
    readonly getPrompt: (
      params: GetPromptRequest["params"],
      options?: RequestOptions
    ) => Effect.Effect<GetPromptResult, RequestError>
    readonly complete: (
      params: CompleteRequest["params"],
      options?: RequestOptions
    ) => Effect.Effect<CompleteResult, RequestError>
    readonly setLoggingLevel: (level: LoggingLevel, options?: RequestOptions) => Effect.Effect<void, RequestError>
    readonly ping: (options?: RequestOptions) => Effect.Effect<void, RequestError>
    /**
     * Server notifications (logging, list changes, resource updates...) received after subscription. The
     * stream fails with `TransportCrashed` when the transport dies.
     */
    readonly notifications: Stream.Stream<ServerNotification, TransportCrashed>
    /** Fails with `TransportCrashed` when the transport dies; never succeeds while it lives. */
    readonly await: Effect.Effect<never, TransportCrashed>
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options<R = never> {
    readonly transport: McpTransport<R>
    readonly clientInfo: { readonly name: string; readonly version: string }
    readonly capabilities?: ClientCapabilities | undefined
    /** Default timeout of every request, initialize included. Default: 60 seconds. */
    readonly requestTimeout?: Duration.DurationInput | undefined
    /** Bound on closing the transport when the scope closes. Default: 2 seconds. */
    readonly closeTimeout?: Duration.DurationInput | undefined
    /** Bound on the number of pages a `list*` call follows. Default: 1000. */
    readonly maxPages?: number | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface RequestOptions {
    /** Overrides the session's `requestTimeout` for this request. */
    readonly timeout?: Duration.DurationInput | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface CallToolStreamOptions extends RequestOptions {
    /** `"fail"`: a result with `isError: true` fails with `ToolError`. Default: `"return"`. */
    readonly toolErrors?: "return" | "fail" | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface CallToolOptions extends CallToolStreamOptions {
    /** Receives every progress notification of the call, in order, before the call completes. */
    readonly onProgress?: ((progress: Progress) => void) | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export type ToolEvent =
    | { readonly _tag: "Progress"; readonly progress: Progress }
    | { readonly _tag: "Result"; readonly result: CallToolResult }
}

/**
 * @since 0.1.0
 * @category models
 */
export type RequestOptions = McpSession.RequestOptions

/**
 * @since 0.1.0
 * @category models
 */
export type CallToolOptions = McpSession.CallToolOptions

/**
 * @since 0.1.0
 * @category models
 */
export type CallToolStreamOptions = McpSession.CallToolStreamOptions

/**
 * @since 0.1.0
 * @category models
 */
export type ToolEvent = McpSession.ToolEvent

/**
 * Opens the transport, runs the MCP handshake and returns the live session. The transport is supervised
 * by a fiber in the current scope; closing the scope fails pending requests with
 * `TransportCrashed { reason: Closed }` and closes the transport, bounded by `closeTimeout`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <R = never>(
  options: McpSession.Options<R>
) => Effect.Effect<McpSession.Service, TransportCrashed | InitializeFailed, Scope.Scope | R> = internal.make

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: <R = never>(
  options: McpSession.Options<R>
) => Layer.Layer<McpSession, TransportCrashed | InitializeFailed, R> = internal.layer
