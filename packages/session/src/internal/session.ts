import type { CallToolResult, Implementation, JSONRPCMessage, ServerCapabilities, ServerNotification, Tool } from "@modelcontextprotocol/sdk/types.js"
import {
  CallToolResultSchema,
  CompleteResultSchema,
  EmptyResultSchema,
  ErrorCode,
  GetPromptResultSchema,
  ListPromptsResultSchema,
  ListResourcesResultSchema,
  ListResourceTemplatesResultSchema,
  ListToolsResultSchema,
  ReadResourceResultSchema
} from "@modelcontextprotocol/sdk/types.js"
import type { JsonSchemaValidator } from "@modelcontextprotocol/sdk/validation"
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberMap from "effect/FiberMap"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { z } from "zod"
import * as McpClientHandlers from "../McpClientHandlers.js"
import * as McpError from "../McpError.js"
import * as McpMetrics from "../McpMetrics.js"
import type { McpSession as McpSessionNs } from "../McpSession.js"
import type { KeepAlive } from "../McpSessionPolicy.js"
import { McpSession } from "../McpSession.js"
import * as ClientHandlers from "./clientHandlers.js"
import * as Deadlines from "./deadlines.js"
import { Engine } from "./engine.js"
import * as Handshake from "./handshake.js"
import * as Metrics from "./metrics.js"
import * as Protocol from "./protocol.js"

type Service = McpSessionNs.Service
type Options<R> = McpSessionNs.Options<R>
type SendOptions = McpSessionNs.RequestOptions & { readonly onProgress?: McpSessionNs.CallToolOptions["onProgress"] }

const defaultRequestTimeout = Duration.seconds(60)
const defaultInitializeTimeout = Duration.seconds(10)
const defaultCloseTimeout = Duration.seconds(2)
const defaultHandlerTimeout = Duration.minutes(5)
const defaultMaxInputRounds = 8

/** The Effect log level of a server's log message (RFC 5424 severities). */
const logLevels: Record<string, LogLevel.LogLevel> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  notice: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  critical: LogLevel.Fatal,
  alert: LogLevel.Fatal,
  emergency: LogLevel.Fatal
}

/** A server's request id as a key: `1` and `"1"` are two requests. */
const requestKey = (id: unknown): string => `${typeof id}:${String(id)}`

/**
 * What the resilient session adds to a generation's options: a plain callback that receives each server
 * notification as it arrives, so that forwarding them costs no fiber and no stream per session.
 *
 * @internal
 */
export interface InternalOptions<R> extends Options<R> {
  readonly onNotification?: ((notification: ServerNotification) => void) | undefined
  /** The resilient session's generation this session is: its requests' spans say it, and their attempt. */
  readonly generation?: number | undefined
}

/**
 * The attempt a resilient session's request is (1, then 2 and up for its replays), for its span: a
 * `FiberRef` read once per request, since `Effect.annotateSpans` per call costs more than the call.
 *
 * @internal
 */
export const currentAttempt: FiberRef.FiberRef<number> = globalValue(
  Symbol.for("@effect-mcp/session/McpSession/currentAttempt"),
  () => FiberRef.unsafeMake(1)
)

/** The methods whose answer may ask the client for input first (2026-07-28's multi round-trip requests). */
const mayRequireInput = new Set(["tools/call", "prompts/get", "resources/read"])

/**
 * A result decoded with the SDK's schema for it; what does not match fails its request alone. A result
 * with no `resultType` is complete (every version before 2026-07-28); one that asks for input fails typed.
 */
const decoder = <S extends z.ZodType>(method: string, schema: S) =>
(result: unknown, target?: string): Effect.Effect<z.output<S>, McpError.ProtocolError | McpError.InputRequired> => {
  const resultType = (result as { resultType?: unknown }).resultType
  if (resultType !== undefined && resultType !== "complete") {
    if (resultType === "input_required" && mayRequireInput.has(method)) {
      const { inputRequests, requestState } = result as { inputRequests?: unknown; requestState?: unknown }
      return Effect.fail(
        new McpError.InputRequired({
          method,
          ...(target !== undefined ? { target } : {}),
          ...(inputRequests !== undefined ? { inputRequests } : {}),
          ...(typeof requestState === "string" ? { requestState } : {})
        })
      )
    }
    return Effect.fail(
      new McpError.ProtocolError({ method, code: ErrorCode.InternalError, detail: `invalid result from server: resultType ${JSON.stringify(resultType)}` })
    )
  }
  const parsed = schema.safeParse(result)
  return parsed.success
    ? Effect.succeed(parsed.data)
    : Effect.fail(
      new McpError.ProtocolError({
        method,
        code: ErrorCode.InternalError,
        detail: `invalid result from server: ${parsed.error.message}`
      })
    )
}

const decodeReadResource = decoder("resources/read", ReadResourceResultSchema)
const decodeGetPrompt = decoder("prompts/get", GetPromptResultSchema)
const decodeEmpty = (method: string) => decoder(method, EmptyResultSchema)
const decodeCallTool = decoder("tools/call", CallToolResultSchema)

/**
 * Tools' output schemas, compiled the first time a call needs one. One Ajv per session, as the SDK has
 * it: a shared one would keep every schema it ever compiled, and two servers' `$id`s could collide.
 */
const outputSchemas = () => {
  let ajv: AjvJsonSchemaValidator | undefined
  const schemas = new Map<string, Tool["outputSchema"]>()
  const validators = new Map<string, JsonSchemaValidator<unknown>>()
  return {
    learn: (tools: ReadonlyArray<Tool>) => {
      schemas.clear()
      validators.clear()
      for (const tool of tools) if (tool.outputSchema !== undefined) schemas.set(tool.name, tool.outputSchema)
    },
    check: (name: string, result: CallToolResult): string | undefined => {
      const schema = schemas.get(name)
      if (schema === undefined || result.isError === true) return undefined
      if (result.structuredContent === undefined) return `tool ${name} has an output schema but did not return structured content`
      let validate = validators.get(name)
      if (validate === undefined) {
        validate = (ajv ??= new AjvJsonSchemaValidator()).getValidator(schema as never)
        validators.set(name, validate)
      }
      const outcome = validate(result.structuredContent)
      return outcome.valid ? undefined : `structured content does not match the tool's output schema: ${outcome.errorMessage}`
    }
  }
}

/** @internal */
export const make = <R = never>(
  options: InternalOptions<R>
): Effect.Effect<Service, McpError.TransportCrashed | McpError.InitializeFailed, Scope.Scope | R> =>
  Effect.map(makeLive(options), (live) => live.service)

/**
 * A session, and whether its transport is dead: known the moment it dies, before the supervising fiber
 * ends, so that a request's `TransportCrashed` can be told from the death of the whole transport.
 *
 * @internal
 */
export const makeLive = <R = never>(
  options: InternalOptions<R>
): Effect.Effect<
  { readonly service: Service; readonly isCrashed: () => boolean },
  McpError.TransportCrashed | McpError.InitializeFailed,
  Scope.Scope | R
> =>
  Effect.gen(function*() {
    const description = options.transport.description
    const requestTimeout = Duration.decode(options.requestTimeout ?? defaultRequestTimeout)
    const initializeTimeout = Duration.decode(
      options.initializeTimeout ?? Duration.min(requestTimeout, defaultInitializeTimeout)
    )
    const closeTimeout = Duration.decode(options.closeTimeout ?? defaultCloseTimeout)
    const maxPages = options.maxPages ?? 1000
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    const annotations = { module: "McpSession", transport: description }
    const logDebug = (message: string, detail: string) =>
      void runFork(Effect.logDebug(message, detail).pipe(Effect.annotateLogs(annotations)))
    const logWarning = (message: string) => void runFork(Effect.logWarning(message).pipe(Effect.annotateLogs(annotations)))

    const died = yield* Deferred.make<never, McpError.TransportCrashed>()
    const notifications = yield* PubSub.unbounded<ServerNotification>()
    const deadlines = yield* Deadlines.make(runFork)
    // the handlers of what the server asks of this client, by the server's request id (a cancel interrupts
    // one); interrupted with the session, and when the transport dies
    const handlers: ClientHandlers.Handlers = {
      elicitation: yield* Effect.serviceOption(McpClientHandlers.Elicitation),
      sampling: yield* Effect.serviceOption(McpClientHandlers.Sampling),
      roots: yield* Effect.serviceOption(McpClientHandlers.Roots)
    }
    const handlerTimeoutMillis = Duration.toMillis(Duration.decode(options.handlerTimeout ?? defaultHandlerTimeout))
    const maxInputRounds = options.maxInputRounds ?? defaultMaxInputRounds
    const serverRequests = yield* FiberMap.make<string, void, never>()
    const runServerRequest = yield* FiberMap.runtime(serverRequests)<never>()
    let serverName: string | undefined = undefined
    const serverLog = (params: unknown) => {
      const { data, level, logger } = (params ?? {}) as { level?: unknown; logger?: unknown; data?: unknown }
      const mapped = typeof level === "string" ? logLevels[level] : undefined
      if (mapped === undefined) return logDebug("invalid log message from the server (ignored)", JSON.stringify(params))
      runFork(
        Effect.logWithLevel(mapped, typeof data === "string" ? data : JSON.stringify(data)).pipe(
          Effect.annotateLogs({
            module: "McpSession",
            transport: description,
            server: serverName ?? "unknown",
            ...(typeof logger === "string" ? { logger } : {})
          })
        )
      )
    }

    const engine: Engine = new Engine(description, died, deadlines, {
      notification: (notification) => {
        if (notification.method === "notifications/tools/list_changed") schemas.learn([])
        else if (notification.method === "notifications/message") serverLog(notification.params)
        else if (notification.method === "notifications/cancelled") {
          // the server gave up on one of its requests: its handler is interrupted, and no answer is sent
          const id = (notification.params as { requestId?: unknown } | undefined)?.requestId
          if (typeof id === "string" || typeof id === "number") runFork(FiberMap.remove(serverRequests, requestKey(id)))
        }
        notifications.unsafeOffer(notification as ServerNotification)
        options.onNotification?.(notification as ServerNotification)
      },
      request: (request) => {
        // ping is answered; a handler's answer is a result or an error, never a failure of the session; what
        // the client offers no handler for is "method not found"
        const answer = request.method === "ping"
          ? Effect.succeed<ClientHandlers.Answer>({ _tag: "Result", result: {} })
          : ClientHandlers.answer(handlers, request.method, request.params, handlerTimeoutMillis)
        runServerRequest(
          requestKey(request.id),
          answer.pipe(
            Effect.flatMap((outcome) =>
              engine.send(
                (outcome._tag === "Result"
                  ? { jsonrpc: "2.0", id: request.id, result: outcome.result }
                  : { jsonrpc: "2.0", id: request.id, error: { code: outcome.code, message: outcome.message } }) as JSONRPCMessage
              )
            ),
            Effect.ignore
          )
        )
      },
      invalid: (detail) => logDebug("invalid message from the server (ignored)", detail)
    })
    const schemas = outputSchemas()

    // 1. the transport, in a scope of its own within this one, closed bounded by closeTimeout. The close and
    // the wait for it run in fibers of no parent's: an interrupt of the fiber that closes the session (a
    // resilient layer's shutdown) must not cut the transport's close short, and a close that never settles
    // is left to its fiber once the bound has passed
    const transportScope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    yield* Effect.addFinalizer(() =>
      Effect.forkDaemon(Scope.close(transportScope, Exit.void)).pipe(
        // a close that is done at once (nothing left to wait for) takes no timer
        Effect.tap(() => Effect.yieldNow()),
        Effect.flatMap((closing) =>
          closing.unsafePoll() !== null
            ? Effect.void
            : Effect.forkDaemon(Effect.interruptible(Fiber.await(closing)).pipe(Effect.timeoutOption(closeTimeout))).pipe(
              Effect.flatMap(Fiber.await),
              Effect.asVoid
            )
        )
      )
    )
    const connection = yield* options.transport.open(engine.control).pipe(Scope.extend(transportScope))
    engine.attach(connection)

    // 2. the supervising fiber: fails with TransportCrashed the moment the transport dies, and fails every
    // pending request with it, which is how each request's race against it is won without a fiber of its own
    const fiber = yield* Deferred.await(died).pipe(
      Effect.tapError((crashed) =>
        Effect.sync(() => engine.clearEntries(crashed)).pipe(
          // what the dead transport's server asked is no longer waited for
          Effect.zipRight(FiberMap.clear(serverRequests)),
          Effect.zipRight(Effect.logDebug("transport died", crashed.message)),
          Effect.annotateLogs({ ...annotations, method: "supervise" }),
          // a death this side caused by closing (the scope's end) is no crash to count
          Effect.zipRight(engine.crashedWhileClosing ? Effect.void : Metric.increment(crashesOf(crashed.reason._tag)))
        )
      ),
      Effect.forkScoped
    )
    // the fiber's await, as its failure; not `Fiber.join`, which would also merge the supervising fiber's
    // FiberRefs into every caller
    const awaitDeath: Effect.Effect<never, McpError.TransportCrashed> = Effect.flatten(Fiber.await(fiber))
    const clock = yield* Effect.clock

    // 3. the handshake
    if (connection.sessionId?.() !== undefined) {
      return yield* new McpError.InitializeFailed({
        transport: description,
        reason: "Invalid",
        detail: "the transport already had a session id before initialize; open the transport without one"
      })
    }
    const clientInfo: Implementation = { name: options.clientInfo.name, version: options.clientInfo.version }
    const clientCapabilities = ClientHandlers.capabilities(options.capabilities ?? {}, handlers)
    const handshake = yield* Handshake.handshake({
      engine,
      connection,
      description,
      protocolVersion: options.protocolVersion ?? "auto",
      clientInfo,
      capabilities: clientCapabilities,
      timeoutMillis: Duration.toMillis(initializeTimeout),
      now: deadlines.now,
      silenceIsLegacy: connection.interrupt === undefined
    }).pipe(
      Effect.withSpan("McpSession.initialize", { kind: "client", attributes: { "mcp.transport": description } })
    )
    const { protocolVersion, serverInfo } = handshake
    serverName = serverInfo.name
    const serverCapabilities: ServerCapabilities = handshake.capabilities
    const instructions = Option.fromNullable(handshake.instructions)
    const modern = Protocol.isModern(protocolVersion)
    engine.cancelByInterrupt = modern
    yield* Effect.logDebug(`connected to ${serverInfo.name} ${serverInfo.version}, protocol version ${protocolVersion}`).pipe(
      Effect.annotateLogs(annotations)
    )

    /**
     * Under 2026-07-28 every request says who is asking and in which version (`_meta`), and names itself in
     * its headers; the caller's own `_meta` keys are kept.
     */
    const baseEnvelope = Handshake.envelope(protocolVersion, clientInfo, clientCapabilities)
    let logLevel: string | undefined = modern ? options.logLevel : undefined
    const outgoing = (method: string, params: Record<string, unknown> | undefined) => {
      if (!modern) return { params, headers: undefined }
      const callerMeta = params?._meta as Record<string, unknown> | undefined
      const meta = logLevel === undefined ? baseEnvelope : { ...baseEnvelope, [Protocol.metaKeys.logLevel]: logLevel }
      const withMeta = { ...params, _meta: callerMeta === undefined ? meta : { ...callerMeta, ...meta } }
      const headers = Handshake.requestHeaders(protocolVersion, method, withMeta)
      if (method === "tools/call") {
        const parameters = headerParameters.get(params?.name as string)
        if (parameters !== undefined) Protocol.parameterHeaders(parameters, params?.arguments, headers)
      }
      return { params: withMeta, headers }
    }
    // the x-mcp-header parameters of each tool listed, for its calls' headers
    const headerParameters = new Map<string, ReadonlyArray<Protocol.HeaderParameter>>()
    const learnTools = (tools: ReadonlyArray<Tool>): ReadonlyArray<Tool> => {
      schemas.learn(tools)
      if (!modern) return tools
      headerParameters.clear()
      const kept: Array<Tool> = []
      for (const tool of tools) {
        const found = Protocol.headerParameters(tool)
        if ("invalid" in found) {
          // the spec's rule: a tool whose headers cannot be built is not offered
          logWarning(`tool ${tool.name} left out: ${found.invalid}`)
          continue
        }
        if (found.parameters.length > 0) headerParameters.set(tool.name, found.parameters)
        kept.push(tool)
      }
      return kept
    }

    // 4. closing the scope fails what is still pending (this finalizer is added last, so it runs first)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        engine.end(new McpError.Closed({ detail: "session scope closed" }))
      }).pipe(Effect.andThen(PubSub.shutdown(notifications)))
    )

    /** A request's timeout (the session's unless the caller gives one), in milliseconds. */
    const timeoutMillisOf = (timeout: Duration.DurationInput | undefined): number =>
      Duration.toMillis(timeout !== undefined ? Duration.decode(timeout) : requestTimeout)

    const request = <A>(
      method: string,
      target: string | undefined,
      params: Record<string, unknown> | undefined,
      decode: (result: unknown) => Effect.Effect<A, McpError.RequestError>,
      options: SendOptions | undefined
    ): Effect.Effect<A, McpError.RequestError> =>
      instrument(method, target, send(method, target, params, decode, options))

    /**
     * A request, and under 2026-07-28 its rounds of input: an `input_required` answer is met by the handlers
     * and the same method sent again (a new request) with the original params, the `inputResponses` and the
     * `requestState` echoed, at most `maxInputRounds` times. A kind of input with no handler fails the call
     * with `InputRequired`; each round has the call's timeout.
     */
    const send = <A>(
      method: string,
      target: string | undefined,
      params: Record<string, unknown> | undefined,
      decode: (result: unknown) => Effect.Effect<A, McpError.RequestError>,
      options: SendOptions | undefined
    ): Effect.Effect<A, McpError.RequestError> => {
      if (!modern || !mayRequireInput.has(method)) return sendOnce(method, target, params, decode, options)
      const round = (rounds: number, roundParams: Record<string, unknown> | undefined): Effect.Effect<A, McpError.RequestError> =>
        Effect.catchIf(sendOnce(method, target, roundParams, decode, options), McpError.isInputRequired, (required) => {
          if (rounds >= maxInputRounds) {
            return Effect.fail(
              new McpError.ProtocolError({
                method,
                code: ErrorCode.InternalError,
                detail: `the server asked for input more than ${maxInputRounds} times`
              })
            )
          }
          return Effect.flatMap(inputResponses(method, required), (responses) =>
            round(rounds + 1, {
              ...params,
              ...(responses !== undefined ? { inputResponses: responses } : {}),
              ...(required.requestState !== undefined ? { requestState: required.requestState } : {})
            }))
        })
      return round(0, params)
    }

    /** The answers of the handlers to one round's input requests, all of them or the call's failure. */
    const inputResponses = (
      method: string,
      required: McpError.InputRequired
    ): Effect.Effect<Record<string, unknown> | undefined, McpError.RequestError> => {
      const requests = required.inputRequests
      if (requests === undefined) return Effect.succeed(undefined)
      if (typeof requests !== "object" || requests === null || Array.isArray(requests)) {
        return Effect.fail(new McpError.ProtocolError({ method, code: ErrorCode.InternalError, detail: "invalid result from server: inputRequests is not an object" }))
      }
      const entries = Object.entries(requests as Record<string, { method?: unknown; params?: unknown }>)
      for (const [, input] of entries) {
        if (typeof input?.method !== "string" || !ClientHandlers.hasHandler(handlers, input.method)) return Effect.fail(required)
      }
      return Effect.forEach(entries, ([key, input]) =>
        Effect.flatMap(
          ClientHandlers.answer(handlers, input.method as string, withElicitationId(key, input), handlerTimeoutMillis),
          (answer) =>
            answer._tag === "Result"
              ? Effect.succeed([key, answer.result] as const)
              : Effect.fail(
                new McpError.ProtocolError({ method, code: answer.code, detail: `${input.method as string} (input ${key}): ${answer.message}` })
              )
        ), { concurrency: "unbounded" }).pipe(
        Effect.map((answers) => Object.fromEntries(answers)),
        // the transport's death interrupts the handlers: the next round could not be sent
        Effect.raceFirst(Effect.mapError(awaitDeath, (crashed) => crashed.withDelivery("NotDelivered")))
      )
    }

    /** 2026-07-28's URL elicitation has no `elicitationId`: the handler gets the input request's key instead. */
    const withElicitationId = (key: string, input: { method?: unknown; params?: unknown }): unknown => {
      const params = input.params as Record<string, unknown> | undefined
      return input.method === "elicitation/create" && params?.mode === "url" && params.elicitationId === undefined
        ? { ...params, elicitationId: key }
        : input.params
    }

    const sendOnce = <A>(
      method: string,
      target: string | undefined,
      params: Record<string, unknown> | undefined,
      decode: (result: unknown) => Effect.Effect<A, McpError.RequestError>,
      options: SendOptions | undefined
    ): Effect.Effect<A, McpError.RequestError> => {
      const wire = outgoing(method, params)
      return engine.request(method, wire.params, decode, {
        timeoutMillis: timeoutMillisOf(options?.timeout),
        target,
        onProgress: options?.onProgress,
        headers: wire.headers
      })
    }

    /** A request whose answer `check` may turn into a failure (a tool's error result), inside its span. */
    const checkedRequest = <A, E extends McpError.ToolError>(
      method: string,
      target: string | undefined,
      params: Record<string, unknown>,
      decode: (result: unknown) => Effect.Effect<A, McpError.RequestError>,
      options: SendOptions | undefined,
      check: (answer: A) => Effect.Effect<A, E>
    ): Effect.Effect<A, McpError.RequestError | E> =>
      instrument(method, target, Effect.flatMap(send(method, target, params, decode, options), check))

    /**
     * The span and the metrics of a request, read and written directly: the metric labels are read once,
     * and the outcome is set on the span itself (it is not made the current span: nothing inside a request
     * logs or starts a span).
     */
    const instrument = <A, E extends McpError.RequestError | McpError.ToolError>(
      method: string,
      target: string | undefined,
      self: Effect.Effect<A, E>
    ): Effect.Effect<A, E> => {
      const { latency, requests } = metricsOf(method)
      return Effect.useSpan(`McpSession.${method}`, {
        kind: "client",
        // a stack trace per request costs more than the request itself; the span names the call
        captureStackTrace: false,
        attributes: {
          "mcp.method": method,
          "mcp.transport": description,
          "mcp.server": serverInfo.name,
          ...(target !== undefined ? { "mcp.target": target } : {}),
          ...(options.generation !== undefined ? { "mcp.generation": options.generation } : {})
        }
      }, (span) =>
        Effect.withFiberRuntime<A, E>((fiber) => {
          if (options.generation !== undefined) span.attribute("mcp.attempt", fiber.getFiberRef(currentAttempt))
          const labels = fiber.getFiberRef(FiberRef.currentMetricLabels)
          requests(1, labels)
          const start = clock.unsafeCurrentTimeNanos()
          return Effect.onExit(self, (exit) => {
            if (Exit.isSuccess(exit)) {
              latency(Duration.nanos(clock.unsafeCurrentTimeNanos() - start), labels)
              span.attribute("mcp.outcome", "ok")
            } else {
              const failure = Cause.failureOption(exit.cause)
              if (Option.isSome(failure)) {
                const error: McpError.RequestError | McpError.ToolError = failure.value
                // the server answered: an error answer, or a tool's error result the caller fails on
                if (error._tag === "ProtocolError" || error._tag === "ToolError") {
                  latency(Duration.nanos(clock.unsafeCurrentTimeNanos() - start), labels)
                }
                const tag = error._tag === "TransportCrashed" ? error.reason._tag : error._tag
                failuresOf(method)(tag)(1, labels)
                span.attribute("mcp.outcome", error._tag === "TransportCrashed" ? `TransportCrashed.${tag}` : tag)
              }
            }
            return Effect.void
          })
        }))
    }

    const paginate = <Page extends { readonly nextCursor?: string | undefined }, A>(
      method: string,
      fetch: (cursor: string | undefined) => Effect.Effect<Page, McpError.RequestError>,
      items: (page: Page) => ReadonlyArray<A>
    ): Effect.Effect<ReadonlyArray<A>, McpError.RequestError> =>
      Effect.gen(function*() {
        const all: Array<A> = []
        let cursor: string | undefined = undefined
        for (let pages = 0; pages < maxPages; pages++) {
          const page: Page = yield* fetch(cursor)
          // not `push(...items)`: a spread passes each item as an argument, and a page of some 100,000
          // items is over V8's limit
          for (const item of items(page)) all.push(item)
          if (page.nextCursor === undefined || page.nextCursor === cursor) return all
          cursor = page.nextCursor
        }
        return yield* new McpError.ProtocolError({
          method,
          code: ErrorCode.InternalError,
          detail: `more than ${maxPages} pages`
        })
      })

    const listed = <Page extends { readonly nextCursor?: string | undefined }, A>(
      method: string,
      decode: (result: unknown) => Effect.Effect<Page, McpError.RequestError>,
      items: (page: Page) => ReadonlyArray<A>
    ) =>
    (options?: McpSessionNs.RequestOptions) =>
      Effect.suspend(() => {
        // the listing as a whole is bounded: each page gets what is left of the timeout, so it needs no
        // timer of its own
        const timeoutMillis = timeoutMillisOf(options?.timeout)
        const deadline = deadlines.now() + timeoutMillis
        const timedOut = () => new McpError.RequestTimeout({ method, timeoutMillis })
        return paginate(
          method,
          (cursor) => {
            const left = deadline - deadlines.now()
            if (left <= 0) return Effect.fail(timedOut())
            return request(method, undefined, cursor === undefined ? undefined : { cursor }, decode, { timeout: left })
          },
          items
        ).pipe(Effect.mapError((error) => error._tag === "RequestTimeout" ? timedOut() : error))
      })

    const checkToolResult = (name: string, toolErrors: "return" | "fail" | undefined) => (result: CallToolResult) =>
      toolErrors === "fail" && result.isError === true
        ? Effect.fail(
          new McpError.ToolError({
            toolName: name,
            detail: result.content.flatMap((c) => (c.type === "text" ? [c.text] : [])).join("\n"),
            result
          })
        )
        : Effect.succeed(result)

    const callTool: Service["callTool"] = (params, callOptions) =>
      checkedRequest(
        "tools/call",
        params.name,
        params as Record<string, unknown>,
        (result) =>
          Effect.flatMap(decodeCallTool(result, params.name), (decoded) => {
            const invalid = schemas.check(params.name, decoded as CallToolResult)
            return invalid === undefined
              ? Effect.succeed(decoded as CallToolResult)
              : Effect.fail(new McpError.ProtocolError({ method: "tools/call", code: ErrorCode.InvalidParams, detail: invalid }))
          }),
        callOptions,
        checkToolResult(params.name, callOptions?.toolErrors)
      )

    const decodeToolsPage = decoder("tools/list", ListToolsResultSchema)
    const listToolsWithCache: Service["listToolsWithCache"] = (listOptions) =>
      Effect.suspend(() => {
        // the listing is as fresh as its stalest page, and private if any page is
        let ttlMillis: number | undefined = undefined
        let scope: "public" | "private" = "public"
        const decode = (result: unknown) =>
          Effect.tap(decodeToolsPage(result), () =>
            Effect.sync(() => {
              const { cacheScope, ttlMs } = result as { ttlMs?: unknown; cacheScope?: unknown }
              if (typeof ttlMs === "number") ttlMillis = Math.min(ttlMillis ?? Infinity, Math.max(0, ttlMs))
              if (cacheScope === "private") scope = "private"
            }))
        return Effect.map(listed("tools/list", decode, (page) => page.tools)(listOptions), (tools) => ({
          tools: learnTools(tools),
          cache: ttlMillis === undefined ? Option.none() : Option.some({ ttlMillis, scope })
        }))
      })

    /** The updates of `uri` among the notifications, from a subscription to them taken before the request. */
    const updatesOf = (uri: string, dequeue: Queue.Dequeue<ServerNotification>) =>
      // the queue shuts down with the session's scope, maybe before the death is seen: the stream then
      // fails with the death rather than ending as if the subscription were over
      Stream.concat(Stream.fromQueue(dequeue), Stream.fromEffect(awaitDeath)).pipe(
        Stream.filterMap((notification): Option.Option<McpSessionNs.ResourceEvent> => {
          if (notification.method !== "notifications/resources/updated") return Option.none()
          const params = notification.params as Record<string, unknown>
          return params.uri === uri ? Option.some({ _tag: "Updated", uri, params }) : Option.none()
        }),
        Stream.interruptWhen(awaitDeath)
      )

    const subscribe: Service["subscribe"] = (uri, requestOptions) =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const dequeue = yield* PubSub.subscribe(notifications)
        if (!modern) {
          yield* Effect.acquireRelease(
            request("resources/subscribe", uri, { uri }, decodeEmpty("resources/subscribe"), requestOptions),
            // a dead transport has nothing to unsubscribe from: that request fails at once, ignored
            () => Effect.ignore(request("resources/unsubscribe", uri, { uri }, decodeEmpty("resources/unsubscribe"), requestOptions))
          )
          return updatesOf(uri, dequeue)
        }
        const listening = yield* listen({ resourceSubscriptions: [uri] }, uri, dequeue, requestOptions)
        if (Option.isNone(listening)) return Stream.empty
        // the server ends the subscription with a result: the stream ends with it
        return updatesOf(uri, dequeue).pipe(Stream.interruptWhen(Fiber.join(listening.value)))
      }))

    /**
     * 2026-07-28's `subscriptions/listen`: a request held open, its notifications what was asked for;
     * interrupting it when the stream ends cancels it on the server. Its first message is the
     * acknowledgement, awaited (bounded); `None` when the server ended it before that.
     */
    const listen = (
      filter: Record<string, unknown>,
      target: string,
      dequeue: Queue.Dequeue<ServerNotification>,
      requestOptions: McpSessionNs.RequestOptions | undefined
    ) =>
      Effect.gen(function*() {
        const method = "subscriptions/listen"
        const wire = outgoing(method, { notifications: filter })
        const listening = yield* engine.request(method, wire.params, Effect.succeed, {
          timeoutMillis: Infinity,
          target,
          headers: wire.headers
        }).pipe(Effect.forkScoped)
        const acknowledged = yield* Stream.fromQueue(dequeue).pipe(
          Stream.filter((n) => n.method === ("notifications/subscriptions/acknowledged" as string)),
          Stream.runHead,
          Effect.raceFirst(Effect.flatMap(Fiber.join(listening), () => Effect.succeedNone)),
          Effect.timeoutFail({
            duration: timeoutMillisOf(requestOptions?.timeout),
            onTimeout: () => new McpError.RequestTimeout({ method, target, timeoutMillis: timeoutMillisOf(requestOptions?.timeout) })
          })
        )
        return Option.map(acknowledged, () => listening)
      })

    const listChanged: Service["listChanged"] = (kind, requestOptions) =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const dequeue = yield* PubSub.subscribe(notifications)
        const method = `notifications/${kind}/list_changed`
        const changes = Stream.concat(Stream.fromQueue(dequeue), Stream.fromEffect(awaitDeath)).pipe(
          Stream.filterMap((notification): Option.Option<McpSessionNs.ListChangedEvent> =>
            notification.method === method ? Option.some({ _tag: "Changed", kind }) : Option.none()
          ),
          Stream.interruptWhen(awaitDeath)
        )
        if (!modern) return changes
        const listening = yield* listen({ [`${kind}ListChanged`]: true }, kind, dequeue, requestOptions)
        if (Option.isNone(listening)) return Stream.empty
        return changes.pipe(Stream.interruptWhen(Fiber.join(listening.value)))
      }))

    const service: Service = {
      transport: description,
      serverInfo,
      protocolVersion,
      serverCapabilities,
      instructions,
      callTool,
      callToolStream: (params, streamOptions) =>
        Stream.asyncScoped<McpSessionNs.ToolEvent, McpError.RequestError | McpError.ToolError>((emit) =>
          callTool(params, {
            ...streamOptions,
            onProgress: (progress) => void emit.single({ _tag: "Progress", progress })
          }).pipe(
            Effect.matchEffect({
              onFailure: (error) => Effect.promise(() => emit.fail(error)),
              onSuccess: (result) =>
                Effect.promise(() => emit.single({ _tag: "Result", result })).pipe(
                  Effect.andThen(Effect.promise(() => emit.end()))
                )
            }),
            Effect.forkScoped
          ), "unbounded"),
      listTools: (listOptions) => Effect.map(listToolsWithCache(listOptions), (listing) => listing.tools),
      listToolsWithCache,
      listResources: listed(
        "resources/list",
        decoder("resources/list", ListResourcesResultSchema),
        (page) => page.resources
      ),
      listResourceTemplates: listed(
        "resources/templates/list",
        decoder("resources/templates/list", ListResourceTemplatesResultSchema),
        (page) => page.resourceTemplates
      ),
      listPrompts: listed("prompts/list", decoder("prompts/list", ListPromptsResultSchema), (page) => page.prompts),
      readResource: (params, requestOptions) =>
        request("resources/read", params.uri, params, (r) => decodeReadResource(r, params.uri), requestOptions),
      getPrompt: (params, requestOptions) =>
        request("prompts/get", params.name, params, (r) => decodeGetPrompt(r, params.name), requestOptions),
      complete: (params, requestOptions) =>
        request(
          "completion/complete",
          undefined,
          params as Record<string, unknown>,
          decoder("completion/complete", CompleteResultSchema),
          requestOptions
        ),
      // 2026-07-28 has no logging/setLevel: the level goes with every request from now on
      setLoggingLevel: (level, requestOptions) =>
        modern
          ? Effect.sync(() => void (logLevel = level))
          : Effect.asVoid(request("logging/setLevel", level, { level }, decodeEmpty("logging/setLevel"), requestOptions)),
      // 2026-07-28 has no ping: server/discover is the cheapest request every server answers
      ping: (requestOptions) =>
        modern
          ? Effect.asVoid(request("server/discover", undefined, undefined, Effect.succeed, requestOptions))
          : Effect.asVoid(request("ping", undefined, undefined, decodeEmpty("ping"), requestOptions)),
      subscribe,
      listChanged,
      notifications: Stream.fromPubSub(notifications).pipe(Stream.interruptWhen(awaitDeath)),
      await: awaitDeath
    }
    // the server's log level, where it is set once (legacy versions); a refusal is not the session's end
    if (!modern && options.logLevel !== undefined && serverCapabilities.logging !== undefined) {
      yield* service.setLoggingLevel(options.logLevel).pipe(
        Effect.catchAll((error) => Effect.logWarning(`logging/setLevel failed: ${error.message}`)),
        Effect.annotateLogs(annotations)
      )
    }
    // a change of the roots is announced on the versions that have the notification
    if (!modern && Option.isSome(handlers.roots)) {
      yield* handlers.roots.value.roots.changes.pipe(
        Stream.drop(1),
        Stream.runForEach(() =>
          Effect.ignore(engine.send({ jsonrpc: "2.0", method: "notifications/roots/list_changed" } as JSONRPCMessage))
        ),
        Effect.forkScoped
      )
    }
    if (options.keepAlive !== undefined) {
      yield* keepAlive(service, engine, options.keepAlive).pipe(
        Effect.annotateLogs({ ...annotations, method: "keepAlive" }),
        Effect.forkScoped
      )
    }
    return { service, isCrashed: () => engine.crashed !== undefined }
  }).pipe(Effect.annotateLogs({ module: "McpSession", method: "make" }))

/**
 * Pings every `interval`; `maxMissed` unanswered pings in a row declare the transport dead. Runs until the
 * transport dies or the scope closes.
 */
const keepAlive = (service: Service, engine: Engine, options: KeepAlive) => {
  let missed = 0
  return service.ping({ timeout: options.timeout }).pipe(
    Effect.matchEffect({
      onSuccess: () => Effect.sync(() => void (missed = 0)),
      onFailure: (error) => {
        // an error answer is an answer: the peer is alive
        if (error._tag === "ProtocolError") return Effect.sync(() => void (missed = 0))
        if (error._tag !== "RequestTimeout") return Effect.void
        missed++
        return Effect.logWarning(`ping unanswered (${missed}/${options.maxMissed})`).pipe(
          Effect.andThen(() => {
            if (missed >= options.maxMissed) engine.crash(new McpError.LivenessLost({ missed }))
          })
        )
      }
    }),
    Effect.delay(options.interval),
    Effect.repeat({ while: () => engine.crashed === undefined })
  )
}

/** The same value for the same key, made on first use: the keys are few (methods, error tags, crash reasons). */
const once = <M>(make: (key: string) => M) => {
  const cache = new Map<string, M>()
  return (key: string): M => {
    let value = cache.get(key)
    if (value === undefined) {
      value = make(key)
      cache.set(key, value)
    }
    return value
  }
}

const metricsOf = once((method) => {
  const labels = [MetricLabel.make("method", method)]
  return { requests: Metrics.labelled(McpMetrics.requests, labels), latency: Metrics.latency(labels) }
})

const crashesOf = once((reason) => Metric.tagged(McpMetrics.crashes, "reason", reason))

/** By method, then error. */
const failuresOf = once((method) =>
  once((error) => Metrics.labelled(McpMetrics.failures, [MetricLabel.make("method", method), MetricLabel.make("error", error)]))
)

/** @internal */
export const layer = <R = never>(
  options: Options<R>
): Layer.Layer<McpSession, McpError.TransportCrashed | McpError.InitializeFailed, R> =>
  Layer.scoped(McpSession, make(options))

/** @internal */
export const layerConfig = <R = never>(
  options: Config.Config.Wrap<Options<R>>
): Layer.Layer<McpSession, McpError.TransportCrashed | McpError.InitializeFailed | ConfigError.ConfigError, R> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(options), (resolved) => layer(resolved)))
