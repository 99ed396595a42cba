/**
 * The tools of many servers as one set, for one identity: names prefixed per server (or a collision rule),
 * filtered, cached from `tools/list`, refreshed when a server says its tools changed
 * (`notifications/tools/list_changed`) and after its session was rebuilt, published as a `SubscriptionRef`
 * of the current set. `call(name, args)` routes to the server's session in the pool, with that server's
 * replay rules. A server that is down makes its tools unavailable, with the reason, and the others serve.
 *
 * A toolset holds a lease on the session of each of its servers for as long as its scope is open: the
 * pool closes them after its idle time to live once the toolset is done.
 *
 * @since 0.1.0
 */
import type { CallToolResult, Tool as SdkTool } from "@modelcontextprotocol/sdk/types.js"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as SubscriptionRef from "effect/SubscriptionRef"
import * as internal from "./internal/toolset.js"
import type { RequestError, ToolError } from "./McpError.js"
import { Cancelled, GaveUp, InputRequired, ProtocolError, RequestTimeout, TransportCrashed } from "./McpError.js"
import type { CallToolOptions } from "./McpSession.js"
import type { Identity, McpSessionPool } from "./McpSessionPool.js"
import { PoolError } from "./McpSessionPool.js"

/**
 * A tool of the set: its name in the set, its server, and the tool as the server listed it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tool {
  readonly name: string
  readonly server: string
  readonly tool: SdkTool
}

/**
 * Why a server's tools are not in the set.
 *
 * @since 0.1.0
 * @category models
 */
export const UnavailableError = Schema.Union(GaveUp, TransportCrashed, RequestTimeout, ProtocolError, InputRequired, Cancelled, PoolError)

/**
 * @since 0.1.0
 * @category models
 */
export type UnavailableError = typeof UnavailableError.Type

/**
 * @since 0.1.0
 * @category models
 */
export type ServerStatus =
  | { readonly _tag: "Connecting" }
  | { readonly _tag: "Ready"; readonly tools: number }
  | { readonly _tag: "Unavailable"; readonly error: UnavailableError }

/**
 * A name served by several servers that the naming rule left out of the set (`"error"`), or gave to the
 * first of them (`"firstWins"`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Collision {
  readonly name: string
  readonly servers: ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface State {
  /** In the order of the servers, then as each server listed them. */
  readonly tools: ReadonlyArray<Tool>
  readonly servers: Readonly<Record<string, ServerStatus>>
  readonly collisions: ReadonlyArray<Collision>
}

/**
 * How tools are named in the set:
 *
 * - `"prefix"` (default): always `<prefix><separator><tool>`, the prefix being the server's `prefix` or name;
 * - `"error"`: unprefixed; a name several servers serve is left out, and calling it fails with `Collision`;
 * - `"firstWins"`: unprefixed; the first server (in `servers` order) keeps a name several serve;
 * - `"prefixOnConflict"`: unprefixed, except names several servers serve: those are prefixed, for each.
 *
 * @since 0.1.0
 * @category models
 */
export type Naming = "prefix" | "error" | "firstWins" | "prefixOnConflict"

/**
 * Which tools of a server are in the set, by the names the server gives them: `allow` (default: all),
 * then `deny`, then `where` (e.g. `McpToolset.readOnly`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Filter {
  readonly allow?: ReadonlyArray<string> | undefined
  readonly deny?: ReadonlyArray<string> | undefined
  readonly where?: ((tool: SdkTool) => boolean) | undefined
}

/**
 * @since 0.1.0
 * @category errors
 */
export class ToolsetError extends Schema.TaggedError<ToolsetError>("@effect-mcp/session/ToolsetError")("ToolsetError", {
  reason: Schema.Literal("UnknownTool", "Unavailable", "Collision"),
  tool: Schema.String,
  server: Schema.optional(Schema.String),
  /** `Unavailable`: why the server is. `Collision`: undefined. */
  error: Schema.optional(UnavailableError),
  servers: Schema.optional(Schema.Array(Schema.String))
}) {
  /**
   * @since 0.1.0
   */
  get message(): string {
    switch (this.reason) {
      case "UnknownTool":
        return `no tool named "${this.tool}" in the toolset`
      case "Unavailable":
        return `tool "${this.tool}" is unavailable: server "${this.server}" ${this.error !== undefined ? `failed: ${this.error.message}` : "is not connected"}`
      case "Collision":
        return `tool "${this.tool}" is served by several servers (${(this.servers ?? []).join(", ")}): use a prefixing naming rule`
    }
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isToolsetError = (u: unknown): u is ToolsetError => u instanceof ToolsetError

/**
 * @since 0.1.0
 * @category tags
 */
export class McpToolset extends Context.Tag("@effect-mcp/session/McpToolset")<McpToolset, McpToolset.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace McpToolset {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The current set; every change of it is published. */
    readonly state: SubscriptionRef.SubscriptionRef<State>
    /** The current set, then each new one. */
    readonly changes: Stream.Stream<State>
    readonly tools: Effect.Effect<ReadonlyArray<Tool>>
    /** The set once no server is `Connecting` any more (each is `Ready` or `Unavailable`). */
    readonly ready: Effect.Effect<State>
    /** Calls a tool of the set by its name in the set. */
    readonly call: (
      name: string,
      args?: Record<string, unknown> | undefined,
      options?: CallToolOptions | undefined
    ) => Effect.Effect<CallToolResult, RequestError | ToolError | ToolsetError>
    /** Lists the tools of a server again (default: of every server that is connected). */
    readonly refresh: (server?: string | undefined) => Effect.Effect<void>
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** The servers of the set, in this order. Default: every server of the pool, by name. */
    readonly servers?: ReadonlyArray<string> | undefined
    /** Whose credentials the sessions use. Default: the pool's anonymous identity. */
    readonly identity?: Identity | undefined
    readonly naming?: Naming | undefined
    /** Between a prefix and a tool's name. Default: `"__"`. */
    readonly separator?: string | undefined
    /** Applies to every server. */
    readonly filter?: Filter | undefined
    /** Per server, on top of `filter`. */
    readonly filters?: Readonly<Record<string, Filter>> | undefined
    /**
     * When to try an unavailable server again (its session could not be built, gave up, or its tools could
     * not be listed). Default: every 30 seconds.
     */
    readonly retry?: Schedule.Schedule<unknown> | undefined
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: McpToolset.Options
) => Effect.Effect<McpToolset.Service, never, Scope.Scope | McpSessionPool> = internal.make

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: (options?: McpToolset.Options) => Layer.Layer<McpToolset, never, McpSessionPool> = internal.layer

/**
 * A `Filter.where` keeping the tools annotated read-only.
 *
 * @since 0.1.0
 * @category combinators
 */
export const readOnly = (tool: SdkTool): boolean => tool.annotations?.readOnlyHint === true
