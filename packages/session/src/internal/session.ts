import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import type { RequestOptions as SdkRequestOptions } from "@modelcontextprotocol/sdk/shared/protocol.js"
import {
  CompleteResultSchema,
  EmptyResultSchema,
  ErrorCode,
  GetPromptResultSchema,
  ListPromptsResultSchema,
  ListResourcesResultSchema,
  ListResourceTemplatesResultSchema,
  McpError as SdkMcpError,
  ReadResourceResultSchema
} from "@modelcontextprotocol/sdk/types.js"
import type { CallToolResult, Progress, ServerNotification } from "@modelcontextprotocol/sdk/types.js"
import type { jsonSchemaValidator } from "@modelcontextprotocol/sdk/validation"
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Deferred from "effect/Deferred"
import * as Exit from "effect/Exit"
import { identity } from "effect/Function"
import * as FiberRef from "effect/FiberRef"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as McpError from "../McpError.js"
import * as McpMetrics from "../McpMetrics.js"
import type { McpSession as McpSessionNs } from "../McpSession.js"
import type { KeepAlive } from "../McpSessionPolicy.js"
import { McpSession } from "../McpSession.js"
import * as Deadlines from "./deadlines.js"
import * as Metrics from "./metrics.js"
import {
  correlationKey,
  correlationPrefix,
  errorMessage,
  failedRequest,
  initializeKey,
  Supervisor
} from "./transport.js"

type Service = McpSessionNs.Service
type Options<R> = McpSessionNs.Options<R>

/**
 * `setTimeout` fires at once for delays above 2^31-1 ms: the SDK gets this "effectively infinite" timeout
 * and Effect's Clock governs the real one.
 *
 * @internal
 */
export const sdkTimeoutMillis = 2 ** 31 - 1

const defaultRequestTimeout = Duration.seconds(60)
const defaultCloseTimeout = Duration.seconds(2)

let nextCorrelation = 0

/**
 * What the resilient session adds to a generation's options: a plain callback that receives each server
 * notification as it arrives, so that forwarding them costs no fiber and no stream per session.
 *
 * @internal
 */
export interface InternalOptions<R> extends Options<R> {
  readonly onNotification?: ((notification: ServerNotification) => void) | undefined
}

/**
 * The SDK's JSON Schema validator (Ajv, for tools' output schemas), made the first time a tool's output
 * schema needs it. The SDK makes one per `Client` up front: about 0.5 ms and 18 KiB per session, on
 * every rebuild, for sessions that may never list a tool with an output schema. One per session still, as
 * the SDK has it: a validator shared by all sessions would keep every schema it ever compiled, and two
 * servers' schemas with the same `$id` would collide in it.
 */
const lazyValidator = (): jsonSchemaValidator => {
  let ajv: AjvJsonSchemaValidator | undefined
  return { getValidator: (schema) => (ajv ??= new AjvJsonSchemaValidator()).getValidator(schema) }
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
    const closeTimeout = Duration.decode(options.closeTimeout ?? defaultCloseTimeout)
    const maxPages = options.maxPages ?? 1000
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    const annotations = { module: "McpSession", transport: description }

    const died = yield* Deferred.make<never, McpError.TransportCrashed>()
    const notifications = yield* PubSub.unbounded<ServerNotification>()
    const supervisor = new Supervisor(description, died, (message, error) => {
      runFork(Effect.logDebug(message, errorMessage(error)).pipe(Effect.annotateLogs(annotations)))
    }, (notification) => {
      notifications.unsafeOffer(notification as ServerNotification)
      options.onNotification?.(notification as ServerNotification)
    })

    // 1. the transport, in this scope (its own finalizers run last)
    const connection = yield* options.transport.open(supervisor.control)
    supervisor.attach(connection)

    // 2. the supervising fiber: fails with TransportCrashed the moment the transport dies
    const fiber = yield* Deferred.await(died).pipe(
      Effect.tapError((crashed) =>
        Effect.logDebug("transport died", crashed.message).pipe(
          Effect.annotateLogs({ ...annotations, method: "supervise" }),
          // a death this side caused by closing (the scope's end) is no crash to count
          Effect.zipRight(supervisor.crashedWhileClosing ? Effect.void : Metric.increment(crashesOf(crashed.reason._tag)))
        )
      ),
      Effect.forkScoped
    )
    // the fiber's await, as its failure; not `Fiber.join`, which would also merge the supervising fiber's
    // FiberRefs into every caller, for nothing, on the path a dying transport's callers wait on
    const awaitDeath: Effect.Effect<never, McpError.TransportCrashed> = Effect.flatten(Fiber.await(fiber))
    const deadlines = yield* Deadlines.make(runFork)

    /**
     * An SDK promise bounded by a deadline on the session's timer. The first of its settling, the deadline
     * and the fiber's interruption wins; the deadline aborts the promise's signal with `abortReason` of its
     * error, the interruption with none (aborting makes the SDK send `notifications/cancelled`). `start` gets
     * the controller, `settle` and whether it is settled, for what else may end the wait first (a throwing
     * `onProgress`).
     */
    const withDeadline = <A, E>(
      timeoutMillis: number,
      timedOut: () => E,
      abortReason: (error: E) => unknown,
      start: (
        controller: AbortController,
        settle: (effect: Effect.Effect<A, E>) => void,
        isSettled: () => boolean
      ) => Promise<A>,
      rejected: (error: unknown) => Effect.Effect<A, E>
    ): Effect.Effect<A, E> =>
      Effect.async<A, E>((resume) => {
        const controller = new AbortController()
        let settled = false
        // the first of answer, deadline and interruption settles it; it is then off the timer
        const finish = (): boolean => {
          if (settled) return false
          settled = true
          cancelDeadline()
          return true
        }
        const settle = (effect: Effect.Effect<A, E>) => {
          if (finish()) resume(effect)
        }
        const cancelDeadline = deadlines.add(timeoutMillis, () => {
          const error = timedOut()
          settle(Effect.fail(error))
          controller.abort(abortReason(error))
        })
        let pending: Promise<A>
        try {
          pending = start(controller, settle, () => settled)
        } catch (error) {
          pending = Promise.reject(error)
        }
        pending.then((value) => settle(Effect.succeed(value)), (error) => settle(rejected(error)))
        return Effect.sync(() => {
          if (finish()) controller.abort()
        })
      })
    const clock = yield* Effect.clock

    // 3. the SDK client over the supervised transport; closing closes the transport, bounded
    const client = new Client(
      { name: options.clientInfo.name, version: options.clientInfo.version },
      { capabilities: options.capabilities ?? {}, jsonSchemaValidator: lazyValidator() }
    )
    yield* Effect.addFinalizer(() =>
      // interruptible, or the timeout could not cut the wait: a finalizer runs uninterruptibly
      Effect.interruptible(Effect.tryPromise(() => supervisor.close())).pipe(
        Effect.timeoutOption(closeTimeout),
        Effect.ignore,
        Effect.andThen(Effect.sync(() => client.close().catch(() => {})))
      )
    )
    // Bounded by `requestTimeout` on the session's deadlines, as every request is (`Effect.timeoutFail`
    // would never fire on the live Clock for a timeout above 2^31-1 ms). No race with the supervisor here: a
    // crash makes the SDK reject the pending initialize at once, and the SDK itself closes the transport when
    // initialize fails, which is no death of the transport.
    yield* withDeadline<void, unknown>(
      Duration.toMillis(requestTimeout),
      () =>
        new McpError.InitializeFailed({
          transport: description,
          reason: "Timeout",
          detail: `no answer to initialize within ${Duration.toMillis(requestTimeout)} ms`
        }),
      () => undefined,
      (controller) => client.connect(supervisor, { signal: controller.signal, timeout: sdkTimeoutMillis }),
      Effect.fail
    ).pipe(
      Effect.catchAll((error) => {
        if (error instanceof McpError.TransportCrashed || error instanceof McpError.InitializeFailed) {
          return Effect.fail(error)
        }
        // the answer to initialize was lost (its response stream ended): there is no session to go on with
        const failed = failedRequest(error)
        if (failed !== undefined) return Effect.fail(failed)
        // The server's error answer is its answer, whatever came after it (any code, -32000 included); the
        // SDK then closes the transport itself, which is no death of the transport either. A transport that
        // died otherwise is the reason, whatever the SDK rejected with ("Connection closed", or "Not
        // connected" from the `initialized` notification when the peer answered and hung up in one go).
        const rejected = error instanceof SdkMcpError && supervisor.answered(initializeKey)
        const crashed = supervisor.crashed
        if (!rejected && crashed !== undefined && !supervisor.crashedWhileClosing) {
          return Effect.fail(
            crashed.withDelivery(McpError.isNotDeliveredReason(crashed.reason) ? "NotDelivered" : "MaybeDelivered")
          )
        }
        return Effect.fail(
          new McpError.InitializeFailed({
            transport: description,
            reason: error instanceof SdkMcpError ? "Rejected" : "Invalid",
            detail: errorMessage(error),
            cause: error
          })
        )
      }),
      Effect.ensuring(Effect.sync(() => supervisor.forget(initializeKey))),
      Effect.withSpan("McpSession.initialize", { kind: "client", attributes: { "mcp.transport": description } })
    )

    // The SDK skips initialize over a transport that already has a session id (it takes it for a resumed
    // session): then nothing says who the server is or what it can do, which a session promises.
    const serverInfo = client.getServerVersion()
    if (serverInfo === undefined) {
      return yield* new McpError.InitializeFailed({
        transport: description,
        reason: "Invalid",
        detail: "no initialize answer: the transport already had a session id, and the SDK does not initialize " +
          "a resumed session; open the transport without one"
      })
    }

    // 4. closing the scope fails what is still pending (this finalizer is added last, so it runs first)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        supervisor.end(new McpError.Closed({ detail: "session scope closed" }))
      }).pipe(Effect.andThen(PubSub.shutdown(notifications)))
    )

    const deliveryOf = (key: string): McpError.Delivery => {
      const state = supervisor.sends.get(key)
      return state === undefined || state === "notDelivered" ? "NotDelivered" : "MaybeDelivered"
    }

    const toError = (error: unknown, method: string, key: string): McpError.RequestError => {
      // an error the server answered with is its answer, even if the transport died since
      if (supervisor.crashed !== undefined && !supervisor.answered(key)) return supervisor.crashed.withDelivery(deliveryOf(key))
      if (error instanceof McpError.TransportCrashed) return error.withDelivery(deliveryOf(key))
      // the transport failed this request alone and lives on
      const failed = failedRequest(error)
      if (failed !== undefined) return failed.withDelivery(deliveryOf(key))
      if (error instanceof SdkMcpError) {
        // -32000 is also the SDK's "Connection closed", but the SDK says that only after the transport
        // closed, which the supervisor has seen first: here it is a server's answer (-32000 is the first
        // code of JSON-RPC's range for server errors, which servers use for their own failures)
        if (error.code === ErrorCode.RequestTimeout && !supervisor.answered(key)) {
          // The SDK's own timeout is disabled (the Clock governs time): this is the SDK cancelling. The
          // same code in a server's answer is that server's error.
          return new McpError.Cancelled({ method, detail: error.message })
        }
        return new McpError.ProtocolError({
          method,
          code: error.code,
          detail: error.message,
          ...(error.data !== undefined ? { data: error.data } : {})
        })
      }
      if (error instanceof Error && error.message === "Not connected") {
        return new McpError.TransportCrashed({
          reason: new McpError.Closed({ detail: "not connected" }),
          transport: description,
          delivery: "NotDelivered",
          cause: error
        })
      }
      if (error instanceof Error && Array.isArray((error as { issues?: unknown }).issues)) {
        return new McpError.ProtocolError({
          method,
          code: ErrorCode.InternalError,
          detail: `invalid result from server: ${error.message}`,
          cause: error
        })
      }
      return new McpError.ProtocolError({
        method,
        code: ErrorCode.InternalError,
        detail: errorMessage(error),
        cause: error
      })
    }

    /** A request's timeout (the session's unless the caller gives one), in milliseconds. */
    const timeoutMillisOf = (timeout: Duration.DurationInput | undefined): number =>
      Duration.toMillis(timeout !== undefined ? Duration.decode(timeout) : requestTimeout)

    /**
     * The one path of every request: tag it, race it against the supervising fiber, bound it on the Clock,
     * abort the SDK request on interruption (the SDK then sends `notifications/cancelled`).
     */
    const request = <A>(
      method: string,
      target: string | undefined,
      run: (meta: Record<string, unknown>, sdkOptions: SdkRequestOptions) => Promise<A>,
      options?: { readonly timeout?: Duration.DurationInput | undefined; readonly onProgress?: ((progress: Progress) => void) | undefined }
    ): Effect.Effect<A, McpError.RequestError> => checkedRequest<A, never>(method, target, run, options, undefined)

    /** A request whose answer `check` may turn into a failure (a tool's error result), inside its span. */
    const checkedRequest = <A, E extends McpError.ToolError>(
      method: string,
      target: string | undefined,
      run: (meta: Record<string, unknown>, sdkOptions: SdkRequestOptions) => Promise<A>,
      options: { readonly timeout?: Duration.DurationInput | undefined; readonly onProgress?: ((progress: Progress) => void) | undefined } | undefined,
      check: ((answer: A) => Effect.Effect<A, E>) | undefined
    ): Effect.Effect<A, McpError.RequestError | E> => {
      const timeoutMillis = timeoutMillisOf(options?.timeout)
      return Effect.suspend(() => {
        if (supervisor.crashed !== undefined) return Effect.fail(supervisor.crashed.withDelivery("NotDelivered"))
        const key = `${correlationPrefix}${nextCorrelation++}`
        const meta: Record<string, unknown> = { [correlationKey]: key }
        const onProgress = options?.onProgress
        if (onProgress !== undefined) meta.progressToken = key
        return withDeadline<A, McpError.RequestError>(
          timeoutMillis,
          () => new McpError.RequestTimeout({ method, ...(target !== undefined ? { target } : {}), timeoutMillis }),
          identity,
          (controller, settle, isSettled) => {
            if (onProgress !== undefined) {
              // The caller's callback runs on the transport's read path, which must never see it throw: the
              // throw is the caller's bug, so it fails the caller's call, in the caller's fiber, as a defect
              // (as a throw in `Effect.sync` would), and the request is cancelled on the server. The
              // transport, the other requests and the session go on.
              supervisor.progress.set(key, (progress) => {
                if (isSettled()) return
                try {
                  onProgress(progress)
                } catch (defect) {
                  // aborted at once, as on a deadline: the caller's fiber may be interrupted before it resumes
                  settle(Effect.die(defect))
                  controller.abort("the caller's onProgress failed")
                }
              })
            }
            return run(meta, { signal: controller.signal, timeout: sdkTimeoutMillis })
          },
          // mapped in the caller's fiber, so a mapping that throws is a defect there, not a lost call
          (error) => Effect.failSync(() => toError(error, method, key))
        ).pipe(
          // An answer that came before the death is the request's: the SDK settles it with that answer within
          // a few microtasks (and its deadline still bounds it), even when the death is reported in the same
          // tick, as a stdio child's last answer and the end of its stdout are.
          Effect.raceFirst(Effect.catchAll(awaitDeath, (crashed) =>
            supervisor.answered(key) ? Effect.never : Effect.fail(crashed.withDelivery(deliveryOf(key))))),
          // after the race: the losing side may still read the request's delivery
          Effect.ensuring(Effect.sync(() => supervisor.forget(key))),
          (self): Effect.Effect<A, McpError.RequestError | E> => check === undefined ? self : Effect.flatMap(self, check)
        )
      }).pipe((self) => instrument(method, target, self))
    }

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
          ...(target !== undefined ? { "mcp.target": target } : {})
        }
      }, (span) =>
        Effect.withFiberRuntime<A, E>((fiber) => {
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

    const withMeta = <P extends object | undefined>(params: P, meta: Record<string, unknown>) => {
      const existing = (params as { _meta?: Record<string, unknown> } | undefined)?._meta
      return { ...params, _meta: { ...existing, ...meta } }
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
      sdk: (params: Record<string, unknown>, options: SdkRequestOptions) => Promise<Page>,
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
            return request(
              method,
              undefined,
              (meta, sdkOptions) => sdk(withMeta(cursor === undefined ? {} : { cursor }, meta), sdkOptions),
              { timeout: left }
            )
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
        (meta, sdkOptions) =>
          client.callTool(withMeta(params, meta), undefined, sdkOptions) as Promise<CallToolResult>,
        callOptions,
        checkToolResult(params.name, callOptions?.toolErrors)
      )

    const serverCapabilities = client.getServerCapabilities() ?? {}
    const instructions = Option.fromNullable(client.getInstructions())

    const service: Service = {
      transport: description,
      serverInfo,
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
      listTools: listed("tools/list", (params, o) => client.listTools(params, o), (page) => page.tools),
      listResources: listed(
        "resources/list",
        (params, o) => client.request({ method: "resources/list", params }, ListResourcesResultSchema, o),
        (page) => page.resources
      ),
      listResourceTemplates: listed(
        "resources/templates/list",
        (params, o) =>
          client.request({ method: "resources/templates/list", params }, ListResourceTemplatesResultSchema, o),
        (page) => page.resourceTemplates
      ),
      listPrompts: listed(
        "prompts/list",
        (params, o) => client.request({ method: "prompts/list", params }, ListPromptsResultSchema, o),
        (page) => page.prompts
      ),
      readResource: (params, requestOptions) =>
        request(
          "resources/read",
          params.uri,
          (meta, o) =>
            client.request({ method: "resources/read", params: withMeta(params, meta) }, ReadResourceResultSchema, o),
          requestOptions
        ),
      getPrompt: (params, requestOptions) =>
        request(
          "prompts/get",
          params.name,
          (meta, o) => client.request({ method: "prompts/get", params: withMeta(params, meta) }, GetPromptResultSchema, o),
          requestOptions
        ),
      complete: (params, requestOptions) =>
        request(
          "completion/complete",
          undefined,
          (meta, o) =>
            client.request({ method: "completion/complete", params: withMeta(params, meta) }, CompleteResultSchema, o),
          requestOptions
        ),
      setLoggingLevel: (level, requestOptions) =>
        Effect.asVoid(
          request(
            "logging/setLevel",
            level,
            (meta, o) => client.request({ method: "logging/setLevel", params: withMeta({ level }, meta) }, EmptyResultSchema, o),
            requestOptions
          )
        ),
      ping: (requestOptions) =>
        Effect.asVoid(
          request(
            "ping",
            undefined,
            (meta, o) => client.request({ method: "ping", params: { _meta: meta } }, EmptyResultSchema, o),
            requestOptions
          )
        ),
      notifications: Stream.fromPubSub(notifications).pipe(Stream.interruptWhen(awaitDeath)),
      await: awaitDeath
    }
    if (options.keepAlive !== undefined) {
      yield* keepAlive(service, supervisor, options.keepAlive).pipe(
        Effect.annotateLogs({ ...annotations, method: "keepAlive" }),
        Effect.forkScoped
      )
    }
    return { service, isCrashed: () => supervisor.crashed !== undefined }
  }).pipe(Effect.annotateLogs({ module: "McpSession", method: "make" }))

/**
 * Pings every `interval`; `maxMissed` unanswered pings in a row declare the transport dead. Runs until the
 * transport dies or the scope closes.
 */
const keepAlive = (service: Service, supervisor: Supervisor, options: KeepAlive) => {
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
            if (missed >= options.maxMissed) supervisor.crash(new McpError.LivenessLost({ missed }))
          })
        )
      }
    }),
    Effect.delay(options.interval),
    Effect.repeat({ while: () => supervisor.crashed === undefined })
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
