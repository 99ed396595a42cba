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
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internalResilient from "./internal/resilient.js"
import * as internal from "./internal/session.js"
import type { GaveUp, InitializeFailed, RequestError, ToolError, TransportCrashed } from "./McpError.js"
import type { KeepAlive, McpSessionPolicy, ReplayRule } from "./McpSessionPolicy.js"
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
    /** The version the handshake settled on (a resilient session: its current generation's). */
    readonly protocolVersion: string
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
    /**
     * Lists all tools, with how long the server says the listing stays fresh (2026-07-28's `ttlMs` and
     * `cacheScope`; the shortest of its pages, and `"private"` if any page is). `cache` is `None` for a
     * server that says nothing (every version before 2026-07-28).
     */
    readonly listToolsWithCache: (options?: RequestOptions) => Effect.Effect<ToolListing, RequestError>
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
     * The updates of one resource, for as long as the stream runs: `resources/subscribe` when it starts and
     * `resources/unsubscribe` when it ends (2025-11-25 and earlier), a `subscriptions/listen` request held
     * open for it (2026-07-28). `options.timeout` bounds the subscribe request, not the stream. A plain
     * session's stream fails with `TransportCrashed` when the transport dies; a resilient session's
     * subscribes again on the next generation, with a `Resubscribed` event in between (an update may have
     * been missed: read the resource again).
     */
    readonly subscribe: (uri: string, options?: RequestOptions) => Stream.Stream<ResourceEvent, RequestError>
    /**
     * The server's word that its list of tools, prompts or resources changed, for as long as the stream
     * runs: `notifications/<kind>/list_changed` as it comes (2025-11-25 and earlier), a `subscriptions/listen`
     * request held open for it (2026-07-28, where a server sends such notifications to a listener only). A
     * resilient session listens again on each new generation, with a `Resubscribed` event in between (a
     * change may have happened while the transport was down: list again then).
     */
    readonly listChanged: (
      kind: McpSession.ListKind,
      options?: RequestOptions
    ) => Stream.Stream<McpSession.ListChangedEvent, RequestError>
    /**
     * Server notifications (logging, list changes, resource updates...) received after subscription. The
     * stream fails with `TransportCrashed` when the transport dies.
     */
    readonly notifications: Stream.Stream<ServerNotification, TransportCrashed | GaveUp>
    /**
     * Fails with `TransportCrashed` when the transport dies; never succeeds while it lives. A resilient
     * session survives crashes: its `await` fails only with `GaveUp`.
     */
    readonly await: Effect.Effect<never, TransportCrashed | GaveUp>
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options<R = never> {
    readonly transport: McpTransport<R>
    readonly clientInfo: { readonly name: string; readonly version: string }
    /**
     * The client's capabilities. `elicitation`, `sampling` and `roots` are those of the `McpClientHandlers`
     * in the context the session is made in, whatever is given here; the rest is sent as given.
     */
    readonly capabilities?: ClientCapabilities | undefined
    /**
     * Default timeout of every request, on the Clock of the effect that makes the
     * session (`TestClock` in tests). Default: 60 seconds.
     */
    readonly requestTimeout?: Duration.DurationInput | undefined
    /**
     * Bound on the handshake (`initialize`), on the same Clock: a server that never answers it is told
     * apart from a slow call. Default: the request timeout, at most 10 seconds.
     */
    readonly initializeTimeout?: Duration.DurationInput | undefined
    /**
     * The protocol version to speak. `"auto"` (the default) prefers 2026-07-28 (`server/discover`) and falls
     * back to the `initialize` handshake for servers that do not know it, taking the newest version the
     * server accepts down to 2024-11-05; a version pins it, and a server that does not speak it fails the
     * handshake (`InitializeFailed { Invalid }`, not retryable).
     */
    readonly protocolVersion?: "auto" | ProtocolVersion | undefined
    /** Bound on closing the transport when the scope closes. Default: 2 seconds. */
    readonly closeTimeout?: Duration.DurationInput | undefined
    /** Bound on the number of pages a `list*` call follows. Default: 1000. */
    readonly maxPages?: number | undefined
    /**
     * Liveness checks (`ping` every `interval`); a silent peer becomes `TransportCrashed { LivenessLost }`.
     * Default: none for `make`/`layer`, `McpSessionPolicy.defaultKeepAlive` for `layerResilient`.
     */
    readonly keepAlive?: KeepAlive | undefined
    /**
     * Bound on each run of a client handler (`McpClientHandlers`) for what the server asks; past it the
     * server is answered `-32001` and the handler interrupted. Default: 5 minutes (a human may be asked).
     */
    readonly handlerTimeout?: Duration.DurationInput | undefined
    /**
     * Under 2026-07-28, how many `input_required` answers one call may get before it fails
     * (`ProtocolError`). Default: 8.
     */
    readonly maxInputRounds?: number | undefined
    /**
     * The level of the server's log messages, which the session logs with `Effect.log*`: set with
     * `logging/setLevel` after the handshake (legacy versions, if the server offers logging), sent with
     * every request under 2026-07-28. Default: none (the server's own).
     */
    readonly logLevel?: LoggingLevel | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export type ListKind = "tools" | "prompts" | "resources"

  /**
   * What `listChanged` emits: a change of the list, or, from a resilient session, that it listens again on
   * a new generation.
   *
   * @since 0.1.0
   * @category models
   */
  export type ListChangedEvent =
    | { readonly _tag: "Changed"; readonly kind: ListKind }
    | { readonly _tag: "Resubscribed"; readonly kind: ListKind; readonly generation: number }

  /**
   * What `subscribe` emits: an update of the resource (the `notifications/resources/updated` params), or,
   * from a resilient session, that it subscribed again on a new generation.
   *
   * @since 0.1.0
   * @category models
   */
  export type ResourceEvent =
    | { readonly _tag: "Updated"; readonly uri: string; readonly params: Readonly<Record<string, unknown>> }
    | { readonly _tag: "Resubscribed"; readonly uri: string; readonly generation: number }

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
   * `callTool`'s options. `callToolStream` takes no `replay`: a stream is never replayed (its progress
   * events may already have been consumed).
   *
   * @since 0.1.0
   * @category models
   */
  export interface CallToolOptions extends CallToolStreamOptions {
    /**
     * For a resilient session: overrides the policy's replay rule for this call (e.g. `"Always"` to opt in
     * to at-least-once). A plain session never replays.
     */
    readonly replay?: ReplayRule | undefined
    /**
     * Receives every progress notification of the call, in order, before the call completes. If it throws,
     * the call dies with what it threw (a defect) and is cancelled on the server; the session goes on.
     */
    readonly onProgress?: ((progress: Progress) => void) | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface ToolListing {
    readonly tools: ReadonlyArray<Tool>
    readonly cache: Option.Option<{ readonly ttlMillis: number; readonly scope: "public" | "private" }>
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
 * The protocol versions a session speaks, newest first.
 *
 * @since 0.1.0
 * @category models
 */
export const protocolVersions = ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"] as const

/**
 * @since 0.1.0
 * @category models
 */
export type ProtocolVersion = typeof protocolVersions[number]

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
 * @since 0.1.0
 * @category models
 */
export type ListKind = McpSession.ListKind

/**
 * @since 0.1.0
 * @category models
 */
export type ListChangedEvent = McpSession.ListChangedEvent

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

/**
 * `layer`, with its options read from `Config`: each field is a `Config` of its value (or a plain object
 * of them), e.g. `requestTimeout: Config.duration("MCP_REQUEST_TIMEOUT")`; give the others with
 * `Config.succeed` (the transport, say). A missing or invalid setting fails the layer with its
 * `ConfigError`.
 *
 * @example
 * ```ts
 * import { McpSession, McpTransport } from "@effect-mcp/session"
 * import { Config } from "effect"
 * declare const transport: McpTransport.McpTransport
 *
 * const SessionLive = McpSession.layerConfig({
 *   transport: Config.succeed(transport),
 *   clientInfo: Config.succeed({ name: "my-agent", version: "1.0.0" }),
 *   requestTimeout: Config.duration("MCP_REQUEST_TIMEOUT").pipe(Config.withDefault("60 seconds"))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: <R = never>(
  options: Config.Config.Wrap<McpSession.Options<R>>
) => Layer.Layer<McpSession, TransportCrashed | InitializeFailed | ConfigError.ConfigError, R> = internal.layerConfig

// ---------------------------------------------------------------------------------------------------------
// Resilience
// ---------------------------------------------------------------------------------------------------------

/**
 * What happens to a resilient session, for observers (a status line, an alert, a log).
 *
 * @since 0.1.0
 * @category models
 */
export type LifecycleEvent =
  | { readonly _tag: "Connected"; readonly generation: number; readonly serverInfo: Implementation }
  | { readonly _tag: "Crashed"; readonly generation: number; readonly error: TransportCrashed }
  | {
    readonly _tag: "Rebuilding"
    /** The attempt that just failed (1 = the first attempt after the crash). */
    readonly attempt: number
    readonly error: TransportCrashed | InitializeFailed
  }
  | {
    readonly _tag: "Rebuilt"
    readonly generation: number
    readonly serverInfo: Implementation
    /** Milliseconds from the crash to the new live session, on the Clock. */
    readonly millis: number
  }
  | { readonly _tag: "Replayed"; readonly method: string; readonly target: string | undefined; readonly attempt: number }
  | { readonly _tag: "GaveUp"; readonly error: GaveUp }

/**
 * @since 0.1.0
 * @category models
 */
export type LifecycleState =
  | { readonly _tag: "Connected"; readonly generation: number }
  | { readonly _tag: "Reconnecting"; readonly generation: number; readonly error: TransportCrashed }
  | { readonly _tag: "GaveUp"; readonly error: GaveUp }

/**
 * The lifecycle of a resilient session: its state, and a stream of events.
 *
 * @since 0.1.0
 * @category tags
 */
export class Lifecycle extends Context.Tag("@effect-mcp/session/McpSession/Lifecycle")<Lifecycle, {
  readonly state: Effect.Effect<LifecycleState>
  /**
   * The current state as an event (`Connected`, `Crashed` while reconnecting, or `GaveUp`), then every
   * event from the moment of subscription on.
   */
  readonly events: Stream.Stream<LifecycleEvent>
}>() {}

/**
 * A session that heals: the same `McpSession` service, backed by sessions rebuilt on `TransportCrashed`
 * as the policy says. The first session is built with the same schedule; if that gives up, so does this.
 *
 * One manager fiber owns the rebuilds, so however many callers see a crash, one rebuild runs. Calls wait
 * for the new session (bounded by `policy.maxWait`) or fail fast, and are replayed only as the replay rule
 * allows: a call that may have reached the server is not sent again unless the rule says so.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeResilient: <R = never>(
  options: McpSession.Options<R>,
  policy?: McpSessionPolicy | undefined
) => Effect.Effect<
  { readonly session: McpSession.Service; readonly lifecycle: Lifecycle["Type"] },
  GaveUp,
  Scope.Scope | R
> = internalResilient.make

/**
 * Provides `McpSession` (and its `Lifecycle`) backed by a resilient session.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerResilient: <R = never>(
  options: McpSession.Options<R>,
  policy?: McpSessionPolicy | undefined
) => Layer.Layer<McpSession | Lifecycle, GaveUp, R> = internalResilient.layer

/**
 * `layerResilient`, with the session's options read from `Config` (see `layerConfig`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerResilientConfig: <R = never>(
  options: Config.Config.Wrap<McpSession.Options<R>>,
  policy?: McpSessionPolicy | undefined
) => Layer.Layer<McpSession | Lifecycle, GaveUp | ConfigError.ConfigError, R> = internalResilient.layerConfig
