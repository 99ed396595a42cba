/**
 * What servers ask of the client, answered by services: `elicitation/create`, `sampling/createMessage` and
 * `roots/list`. Each feature is a tag with a `layer`; a session made with a handler in its context
 * advertises that capability (in `initialize`, and in every 2026-07-28 request's `_meta`) and answers the
 * server with it, whether the server asks with a request of its own (2025-11-25 and earlier) or with an
 * `input_required` result (2026-07-28). A session advertises none of these three without its handler.
 *
 * @since 0.1.0
 */
import type {
  CreateMessageRequest,
  CreateMessageResult,
  ElicitRequestParams,
  ElicitResult,
  Root
} from "@modelcontextprotocol/sdk/types.js"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as SubscriptionRef from "effect/SubscriptionRef"
import * as internal from "./internal/clientHandlers.js"

/**
 * A handler's refusal with a JSON-RPC error of its choosing (default `-32603`, internal error). Any other
 * failure or defect of a handler is answered `-32603` with no detail of it.
 *
 * @since 0.1.0
 * @category errors
 */
export class HandlerError extends Schema.TaggedError<HandlerError>("@effect-mcp/session/HandlerError")("HandlerError", {
  detail: Schema.String,
  code: Schema.optional(Schema.Number)
}) {
  /**
   * @since 0.1.0
   */
  get message(): string {
    return this.detail
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export type ElicitParams = ElicitRequestParams

/**
 * @since 0.1.0
 * @category models
 */
export type SamplingParams = CreateMessageRequest["params"]

/**
 * The elicitation handler a session runs.
 *
 * @since 0.1.0
 * @category models
 */
export interface ElicitationHandler {
  readonly handle: (params: ElicitParams) => Effect.Effect<ElicitResult, unknown>
  /** Whether the schema's defaults fill in what an accepted form leaves out (SEP-1034). */
  readonly applyDefaults: boolean
  /** Whether URL-mode elicitation is offered (2025-11-25 and later). */
  readonly url: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ElicitationOptions {
  /** Fill in the defaults of the requested schema that an accepted answer leaves out. Default: `true`. */
  readonly applyDefaults?: boolean | undefined
  /** Offer URL mode too: the handler then also receives `{ mode: "url", url, elicitationId }`. Default: `false`. */
  readonly url?: boolean | undefined
}

/**
 * `elicitation/create`: the handler asks the user and answers `accept` (with `content`), `decline` or
 * `cancel`.
 *
 * @since 0.1.0
 * @category tags
 */
export class Elicitation extends Context.Tag("@effect-mcp/session/McpClientHandlers/Elicitation")<
  Elicitation,
  ElicitationHandler
>() {
  /**
   * @since 0.1.0
   */
  static readonly layer: <E, R>(
    handler: (params: ElicitParams) => Effect.Effect<ElicitResult, E, R>,
    options?: ElicitationOptions
  ) => Layer.Layer<Elicitation, never, R> = (handler, options) => internal.elicitationLayer(Elicitation, handler, options)
}

/**
 * The sampling handler a session runs.
 *
 * @since 0.1.0
 * @category models
 */
export interface SamplingHandler {
  readonly handle: (params: SamplingParams) => Effect.Effect<CreateMessageResult, unknown>
  /** Whether requests with `tools`/`toolChoice` are accepted (advertised as `sampling.tools`). */
  readonly tools: boolean
  /** Whether `includeContext` other than `"none"` is honoured (advertised as `sampling.context`). */
  readonly context: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SamplingOptions {
  /** Advertise `sampling.tools`. Default: `false`. */
  readonly tools?: boolean | undefined
  /** Advertise `sampling.context`. Default: `false`. */
  readonly context?: boolean | undefined
}

/**
 * `sampling/createMessage`: the handler asks a model and answers with its message.
 *
 * @since 0.1.0
 * @category tags
 */
export class Sampling extends Context.Tag("@effect-mcp/session/McpClientHandlers/Sampling")<Sampling, SamplingHandler>() {
  /**
   * @since 0.1.0
   */
  static readonly layer: <E, R>(
    handler: (params: SamplingParams) => Effect.Effect<CreateMessageResult, E, R>,
    options?: SamplingOptions
  ) => Layer.Layer<Sampling, never, R> = (handler, options) => internal.samplingLayer(Sampling, handler, options)
}

/**
 * The roots a session offers: their current list. A change is announced with
 * `notifications/roots/list_changed` on the versions that have it (2025-11-25 and earlier).
 *
 * @since 0.1.0
 * @category models
 */
export interface RootsHandler {
  readonly roots: SubscriptionRef.SubscriptionRef<ReadonlyArray<Root>>
}

/**
 * `roots/list`.
 *
 * @since 0.1.0
 * @category tags
 */
export class Roots extends Context.Tag("@effect-mcp/session/McpClientHandlers/Roots")<Roots, RootsHandler>() {
  /**
   * Roots from a `SubscriptionRef`: update it, and the servers are told.
   *
   * @since 0.1.0
   */
  static readonly layer: (roots: SubscriptionRef.SubscriptionRef<ReadonlyArray<Root>>) => Layer.Layer<Roots> = (roots) =>
    internal.rootsLayer(Roots, roots)

  /**
   * Roots that never change.
   *
   * @since 0.1.0
   */
  static readonly layerStatic: (roots: ReadonlyArray<Root>) => Layer.Layer<Roots> = (roots) =>
    internal.rootsLayerStatic(Roots, roots)
}

/**
 * Fills in the defaults of `schema`'s properties that `content` leaves out (SEP-1034).
 *
 * @since 0.1.0
 * @category combinators
 */
export const applyDefaults: (
  schema: { readonly properties?: Record<string, unknown> } | undefined,
  content: Record<string, unknown> | undefined
) => Record<string, unknown> = internal.applyDefaults
