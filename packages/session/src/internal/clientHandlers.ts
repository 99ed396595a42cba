import type { ClientCapabilities, CreateMessageResult, ElicitResult, Root } from "@modelcontextprotocol/sdk/types.js"
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ErrorCode,
  ListRootsRequestSchema
} from "@modelcontextprotocol/sdk/types.js"
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as McpClientHandlers from "../McpClientHandlers.js"

/** @internal */
export const elicitationLayer = <E, R>(
  tag: Context.Tag<McpClientHandlers.Elicitation, McpClientHandlers.ElicitationHandler>,
  handler: (params: McpClientHandlers.ElicitParams) => Effect.Effect<ElicitResult, E, R>,
  options: McpClientHandlers.ElicitationOptions | undefined
): Layer.Layer<McpClientHandlers.Elicitation, never, R> =>
  Layer.effect(
    tag,
    Effect.map(Effect.context<R>(), (context) => ({
      handle: (params) => Effect.provide(handler(params), context),
      applyDefaults: options?.applyDefaults ?? true,
      url: options?.url ?? false
    }))
  )

/** @internal */
export const samplingLayer = <E, R>(
  tag: Context.Tag<McpClientHandlers.Sampling, McpClientHandlers.SamplingHandler>,
  handler: (params: McpClientHandlers.SamplingParams) => Effect.Effect<CreateMessageResult, E, R>,
  options: McpClientHandlers.SamplingOptions | undefined
): Layer.Layer<McpClientHandlers.Sampling, never, R> =>
  Layer.effect(
    tag,
    Effect.map(Effect.context<R>(), (context) => ({
      handle: (params) => Effect.provide(handler(params), context),
      tools: options?.tools ?? false,
      context: options?.context ?? false
    }))
  )

/** @internal */
export const rootsLayer = (
  tag: Context.Tag<McpClientHandlers.Roots, McpClientHandlers.RootsHandler>,
  roots: SubscriptionRef.SubscriptionRef<ReadonlyArray<Root>>
): Layer.Layer<McpClientHandlers.Roots> => Layer.succeed(tag, { roots })

/** @internal */
export const rootsLayerStatic = (
  tag: Context.Tag<McpClientHandlers.Roots, McpClientHandlers.RootsHandler>,
  roots: ReadonlyArray<Root>
): Layer.Layer<McpClientHandlers.Roots> => Layer.effect(tag, Effect.map(SubscriptionRef.make(roots), (ref) => ({ roots: ref })))

/** @internal */
export const applyDefaults = (
  schema: { readonly properties?: Record<string, unknown> } | undefined,
  content: Record<string, unknown> | undefined
): Record<string, unknown> => {
  const filled: Record<string, unknown> = {}
  for (const [key, property] of Object.entries(schema?.properties ?? {})) {
    const value = (property as { default?: unknown } | null)?.default
    if (value !== undefined) filled[key] = value
  }
  return { ...filled, ...content }
}

/**
 * The handlers a session found in its context when it was made.
 *
 * @internal
 */
export interface Handlers {
  readonly elicitation: Option.Option<McpClientHandlers.ElicitationHandler>
  readonly sampling: Option.Option<McpClientHandlers.SamplingHandler>
  readonly roots: Option.Option<McpClientHandlers.RootsHandler>
}

/**
 * The capabilities to advertise: the caller's, where the three of the handlers are exactly those whose
 * handler is present.
 *
 * @internal
 */
export const capabilities = (base: ClientCapabilities, handlers: Handlers): ClientCapabilities => {
  const { elicitation: _e, roots: _r, sampling: _s, ...rest } = base
  const out: ClientCapabilities = { ...rest }
  if (Option.isSome(handlers.elicitation)) {
    const { applyDefaults, url } = handlers.elicitation.value
    out.elicitation = { form: applyDefaults ? { applyDefaults: true } : {}, ...(url ? { url: {} } : {}) }
  }
  if (Option.isSome(handlers.sampling)) {
    const { context, tools } = handlers.sampling.value
    out.sampling = { ...(context ? { context: {} } : {}), ...(tools ? { tools: {} } : {}) }
  }
  if (Option.isSome(handlers.roots)) out.roots = { listChanged: true }
  return out
}

/** The methods a handler may answer. */
export const handledMethods = new Set(["elicitation/create", "sampling/createMessage", "roots/list"])

/** @internal */
export const hasHandler = (handlers: Handlers, method: string): boolean => {
  switch (method) {
    case "elicitation/create":
      return Option.isSome(handlers.elicitation)
    case "sampling/createMessage":
      return Option.isSome(handlers.sampling)
    case "roots/list":
      return Option.isSome(handlers.roots)
    default:
      return false
  }
}

/**
 * A handler's answer: a result, or a JSON-RPC error.
 *
 * @internal
 */
export type Answer =
  | { readonly _tag: "Result"; readonly result: Record<string, unknown> }
  | { readonly _tag: "Error"; readonly code: number; readonly message: string }

const invalidParams = (method: string, detail: string): Answer => ({
  _tag: "Error",
  code: ErrorCode.InvalidParams,
  message: `invalid ${method} params: ${detail}`
})

/**
 * Runs the handler of `method` on `params`, bounded by `timeoutMillis`: never fails, and a failure or a
 * defect of the handler is an error answer. Interrupting it interrupts the handler.
 *
 * @internal
 */
export const answer = (
  handlers: Handlers,
  method: string,
  params: unknown,
  timeoutMillis: number
): Effect.Effect<Answer> => {
  const run = (): Effect.Effect<Answer> | Answer => {
    switch (method) {
      case "elicitation/create": {
        if (Option.isNone(handlers.elicitation)) break
        const handler = handlers.elicitation.value
        const parsed = ElicitRequestSchema.safeParse({ method, params: params ?? {} })
        if (!parsed.success) return invalidParams(method, parsed.error.message)
        const request = parsed.data.params
        if (request.mode === "url" && !handler.url) return invalidParams(method, "URL mode is not offered by this client")
        return bounded(
          Effect.map(handler.handle(request), (result) =>
            handler.applyDefaults && result.action === "accept" && request.mode !== "url"
              ? { ...result, content: applyDefaults(request.requestedSchema, result.content) }
              : result),
          timeoutMillis
        )
      }
      case "sampling/createMessage": {
        if (Option.isNone(handlers.sampling)) break
        const handler = handlers.sampling.value
        const parsed = CreateMessageRequestSchema.safeParse({ method, params: params ?? {} })
        if (!parsed.success) return invalidParams(method, parsed.error.message)
        if (!handler.tools && (parsed.data.params.tools !== undefined || parsed.data.params.toolChoice !== undefined)) {
          return invalidParams(method, "this client does not offer tools in sampling")
        }
        return bounded(handler.handle(parsed.data.params), timeoutMillis)
      }
      case "roots/list": {
        if (Option.isNone(handlers.roots)) break
        const parsed = ListRootsRequestSchema.safeParse({ method, ...(params !== undefined ? { params } : {}) })
        if (!parsed.success) return invalidParams(method, parsed.error.message)
        return bounded(Effect.map(SubscriptionRef.get(handlers.roots.value.roots), (roots) => ({ roots })), timeoutMillis)
      }
    }
    return { _tag: "Error", code: ErrorCode.MethodNotFound, message: `Method not found: ${method}` }
  }
  return Effect.suspend(() => {
    const outcome = run()
    return Effect.isEffect(outcome) ? outcome : Effect.succeed(outcome)
  })
}

const bounded = (self: Effect.Effect<unknown, unknown>, timeoutMillis: number): Effect.Effect<Answer> =>
  self.pipe(
    Effect.timeoutOption(timeoutMillis),
    Effect.exit,
    Effect.map((exit): Answer => {
      if (exit._tag === "Success") {
        return Option.isSome(exit.value)
          ? { _tag: "Result", result: exit.value.value as Record<string, unknown> }
          : { _tag: "Error", code: ErrorCode.RequestTimeout, message: `the client's handler timed out after ${timeoutMillis} ms` }
      }
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure)) {
        const error = failure.value as { _tag?: unknown; detail?: unknown; code?: unknown }
        if (error?._tag === "HandlerError" && typeof error.detail === "string") {
          return { _tag: "Error", code: typeof error.code === "number" ? error.code : ErrorCode.InternalError, message: error.detail }
        }
      }
      // no detail of an unexpected failure leaves the client
      return { _tag: "Error", code: ErrorCode.InternalError, message: "the client's handler failed" }
    })
  )
