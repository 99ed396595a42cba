import type { Implementation, ServerNotification, Tool } from "@modelcontextprotocol/sdk/types.js"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as McpError from "../McpError.js"
import * as McpMetrics from "../McpMetrics.js"
import type { LifecycleEvent, LifecycleState, McpSession as McpSessionNs } from "../McpSession.js"
import { Lifecycle, McpSession } from "../McpSession.js"
import * as McpSessionPolicy from "../McpSessionPolicy.js"
import * as session from "./session.js"

type Service = McpSessionNs.Service
type Options<R> = McpSessionNs.Options<R>

interface Live {
  readonly generation: number
  readonly session: Service
  readonly scope: Scope.CloseableScope
  /** Whether this generation's transport is dead (a request may fail alone while it lives on). */
  readonly isCrashed: () => boolean
}

type State =
  | { readonly _tag: "Connected"; readonly live: Live }
  | { readonly _tag: "Reconnecting"; readonly generation: number; readonly error: McpError.TransportCrashed }
  | { readonly _tag: "GaveUp"; readonly error: McpError.GaveUp }

/** @internal */
export const make = <R = never>(
  options: Options<R>,
  policy: McpSessionPolicy.McpSessionPolicy = McpSessionPolicy.defaultPolicy
): Effect.Effect<
  { readonly session: Service; readonly lifecycle: Lifecycle["Type"] },
  McpError.GaveUp,
  Scope.Scope | R
> =>
  Effect.gen(function*() {
    const description = options.transport.description
    // Sessions live in a scope of their own, created before the manager is forked: closing the layer
    // interrupts the manager first, so it never mistakes the shutdown for a crash.
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const events = yield* PubSub.unbounded<LifecycleEvent>()
    const notifications = yield* PubSub.unbounded<ServerNotification>()
    // every generation's notifications, as they arrive (a closed generation's transport delivers no more)
    const sessionOptions: session.InternalOptions<R> = {
      ...options,
      keepAlive: options.keepAlive ?? policy.keepAlive,
      onNotification: (notification) => void notifications.unsafeOffer(notification)
    }
    const gaveUp = yield* Deferred.make<never, McpError.GaveUp>()
    const tools = new Map<string, Tool>()
    yield* Effect.addFinalizer(() => Effect.andThen(PubSub.shutdown(events), PubSub.shutdown(notifications)))

    const publish = (event: LifecycleEvent) => PubSub.publish(events, event)

    /**
     * Waits what is left of the wait a server asked for with this failure (HTTP `Retry-After`, bounded by
     * the policy), once `waited` ms have passed since.
     */
    const honourRetryAfter = (error: McpError.TransportCrashed | McpError.InitializeFailed, waited: number) => {
      const asked = McpSessionPolicy.retryAfter(error, policy.maxRetryAfter)
      const rest = asked === undefined ? 0 : Duration.toMillis(asked) - waited
      if (rest <= 0) return Effect.void
      const more = waited > 0 ? " more" : ""
      return Effect.logInfo(`waiting ${Duration.format(Duration.millis(rest))}${more}, as the server asked (Retry-After)`).pipe(
        Effect.zipRight(Effect.sleep(Duration.millis(rest)))
      )
    }

    /**
     * Builds a session, retrying per the policy's schedule; each attempt in a scope of its own. After a
     * `crash`, the first attempt goes at once, unless the server asked for a wait.
     */
    const connect = (generation: number, crash?: McpError.TransportCrashed): Effect.Effect<Live, McpError.GaveUp, R> =>
      Effect.gen(function*() {
        const driver = yield* Schedule.driver(policy.reconnect)
        if (crash !== undefined) yield* honourRetryAfter(crash, 0)
        for (let attempt = 1;; attempt++) {
          const child = yield* Scope.fork(scope, ExecutionStrategy.sequential)
          const exit = yield* session.makeLive(sessionOptions).pipe(Scope.extend(child), Effect.exit)
          if (Exit.isSuccess(exit)) {
            return { generation, session: exit.value.service, isCrashed: exit.value.isCrashed, scope: child }
          }
          yield* Scope.close(child, exit)
          const failure = Cause.failureOption(exit.cause)
          if (Option.isNone(failure)) return yield* Effect.die(Cause.squash(exit.cause))
          const error = failure.value
          yield* publish({ _tag: "Rebuilding", attempt, error })
          yield* Effect.logInfo(`attempt ${attempt} failed: ${error.message}`)
          const scheduledAt = yield* Clock.currentTimeMillis
          const next = yield* Effect.option(driver.next(error))
          if (Option.isNone(next)) {
            return yield* new McpError.GaveUp({ transport: description, attempts: attempt, lastError: error })
          }
          // the schedule's delay or the server's, whichever is longer
          yield* honourRetryAfter(error, (yield* Clock.currentTimeMillis) - scheduledAt)
        }
      }).pipe(Effect.annotateLogs({ module: "McpSession", method: "connect", transport: description, generation }))

    const first = yield* connect(1).pipe(
      Effect.tapError((error) => Metric.increment(McpMetrics.gaveUp).pipe(Effect.zipRight(publish({ _tag: "GaveUp", error }))))
    )
    // what the latest session said of its server: data only, so that a dead session is not kept by it
    // (after giving up, it would stay for the resilient session's life)
    const infoOf = ({ instructions, serverCapabilities, serverInfo }: Service) => ({ instructions, serverCapabilities, serverInfo })
    let latest = infoOf(first.session)
    const state = yield* SubscriptionRef.make<State>({ _tag: "Connected", live: first })
    yield* publish({ _tag: "Connected", generation: 1, serverInfo: first.session.serverInfo })

    // The manager: the one fiber that notices crashes and rebuilds. It holds nothing but the live generation
    // while it waits, or every dead one would stay reachable (a dead generation holds its transport, and a
    // stdio one its child's buffers): the first generation comes by a handover it clears (a parameter would
    // keep it for the session's life); each crash and rebuild runs in a generator of its own that ends with
    // it (a suspended generator keeps its temporaries, and a crash's captured stack trace references the
    // objects of the generation it ended); and the steps chain by `flatMap` in tail position, not a loop in
    // an `Effect.gen` (whose registers kept the previous generation) nor a recursion inside one (which kept
    // them all).
    let handover: Live | undefined = first
    /** The crash of `live`, awaited, and the rebuild after it: the next generation, or none when done. */
    const crashAndRebuild = (live: Live): Effect.Effect<Live | undefined, never, R> =>
      Effect.gen(function*() {
        const crash = yield* Effect.flip(live.session.await)
        if (crash._tag !== "TransportCrashed") return undefined
        const crashedAt = yield* Clock.currentTimeMillis
        yield* Effect.logWarning(`transport crashed: ${crash.message}`)
        yield* SubscriptionRef.set(state, { _tag: "Reconnecting", generation: live.generation, error: crash })
        yield* publish({ _tag: "Crashed", generation: live.generation, error: crash })
        yield* Scope.close(live.scope, Exit.void)
        const next = yield* Effect.either(connect(live.generation + 1, crash))
        if (next._tag === "Left") {
          yield* SubscriptionRef.set(state, { _tag: "GaveUp", error: next.left })
          yield* Metric.increment(McpMetrics.gaveUp)
          yield* publish({ _tag: "GaveUp", error: next.left })
          yield* Effect.logError(next.left.message)
          yield* Deferred.fail(gaveUp, next.left)
          return undefined
        }
        const rebuilt = next.right
        latest = infoOf(rebuilt.session)
        yield* SubscriptionRef.set(state, { _tag: "Connected", live: rebuilt })
        yield* Metric.increment(McpMetrics.rebuilds)
        const millis = (yield* Clock.currentTimeMillis) - crashedAt
        yield* publish({ _tag: "Rebuilt", generation: rebuilt.generation, serverInfo: rebuilt.session.serverInfo, millis })
        yield* Effect.logInfo(`session rebuilt in ${millis} ms`)
        return rebuilt
      })
    const loop = (live: Live): Effect.Effect<void, never, R> =>
      Effect.flatMap(crashAndRebuild(live), (next) => next === undefined ? Effect.void : loop(next))
    const manage: Effect.Effect<void, never, R> = Effect.suspend(() => {
      const live = handover!
      handover = undefined
      return loop(live)
    }).pipe(Effect.annotateLogs({ module: "McpSession", method: "manage", transport: description }))
    yield* Effect.forkScoped(manage)

    /**
     * The live session of a generation above `after`: at once if there is one, else wait for the manager
     * (bounded) or fail fast, as the policy says.
     */
    const acquire = (after: number, crash: McpError.TransportCrashed | undefined): Effect.Effect<Live, McpError.TransportCrashed | McpError.GaveUp> =>
      Effect.flatMap(SubscriptionRef.get(state), (current) => {
        if (current._tag === "Connected" && current.live.generation > after) return Effect.succeed(current.live)
        if (current._tag === "GaveUp") return Effect.fail(current.error)
        if (current._tag === "Reconnecting" && policy.whileReconnecting === "fail") {
          return Effect.fail(crash ?? current.error.withDelivery("NotDelivered"))
        }
        return state.changes.pipe(
          Stream.filter((s) => (s._tag === "Connected" && s.live.generation > after) || s._tag === "GaveUp"),
          Stream.runHead,
          Effect.flatMap((s): Effect.Effect<Live, McpError.GaveUp | McpError.TransportCrashed> => {
            if (Option.isNone(s)) return Effect.fail(crash ?? closed())
            return s.value._tag === "Connected" ? Effect.succeed(s.value.live) : Effect.fail((s.value as { error: McpError.GaveUp }).error)
          }),
          Effect.timeoutFail({
            duration: policy.maxWait,
            onTimeout: () => crash ?? (current._tag === "Reconnecting" ? current.error.withDelivery("NotDelivered") : closed())
          })
        )
      })

    const closed = () =>
      new McpError.TransportCrashed({
        reason: new McpError.Closed({ detail: "resilient session closed" }),
        transport: description,
        delivery: "NotDelivered"
      })

    /**
     * Runs a request on the live session; on `TransportCrashed`, replays it when `mayReplay` allows, at most
     * `policy.maxReplays` times: on the next session if the transport died, on the same one if the request
     * failed alone (its response stream ended without the answer). The error reported is the first crash's
     * delivery if any attempt may have reached the server.
     */
    const run = <A, E>(
      method: string,
      target: string | undefined,
      call: (session: Service) => Effect.Effect<A, E | McpError.TransportCrashed>,
      mayReplay: (crash: McpError.TransportCrashed, after: number) => Effect.Effect<boolean>
    ): Effect.Effect<A, E | McpError.TransportCrashed | McpError.GaveUp> =>
      Effect.gen(function*() {
        let after = 0
        let maybeDelivered: McpError.TransportCrashed | undefined
        for (let attempt = 0;; attempt++) {
          const live = yield* acquire(after, maybeDelivered)
          const exit = yield* Effect.exit(call(live.session).pipe(
            Effect.annotateSpans({ "mcp.attempt": attempt + 1, "mcp.generation": live.generation })
          ))
          if (Exit.isSuccess(exit)) return exit.value
          const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          if (!McpError.isTransportCrashed(failure)) return yield* exit
          if (failure.delivery !== "NotDelivered") maybeDelivered = failure
          // the next attempt goes to a later generation if the transport died, else to this one
          after = live.isCrashed() ? live.generation : live.generation - 1
          if (attempt >= policy.maxReplays || !(yield* mayReplay(failure, after))) {
            return yield* Effect.fail(maybeDelivered ?? failure)
          }
          yield* Metric.increment(Metric.tagged(McpMetrics.replays, "method", method))
          yield* publish({ _tag: "Replayed", method, target, attempt: attempt + 1 })
          // annotated here, not around every call: nothing else in a request logs
          yield* Effect.logDebug(`replaying ${method}${target !== undefined ? ` ${target}` : ""} (${failure.reason._tag})`).pipe(
            Effect.annotateLogs({
              module: "McpSession",
              method,
              transport: description,
              server: live.session.serverInfo.name,
              generation: live.generation
            })
          )
        }
      })

    const always = () => Effect.succeed(true)

    /** What `tools/list` says of a tool; looked up on the next session when not yet known. */
    const toolInfo = (name: string, after: number): Effect.Effect<Tool | undefined> => {
      const known = tools.get(name)
      if (known !== undefined) return Effect.succeed(known)
      return acquire(after, undefined).pipe(
        Effect.flatMap((live) => live.session.listTools()),
        Effect.map((listed) => {
          for (const tool of listed) tools.set(tool.name, tool)
          return tools.get(name)
        }),
        Effect.orElseSucceed(() => undefined)
      )
    }

    const mayReplayTool = (name: string, rule: McpSessionPolicy.ReplayRule) =>
    (crash: McpError.TransportCrashed, after: number): Effect.Effect<boolean> => {
      if (rule !== "Idempotent" || crash.delivery === "NotDelivered") {
        return Effect.succeed(McpSessionPolicy.mayReplayTool(rule, crash, undefined))
      }
      return Effect.map(toolInfo(name, after), (tool) => McpSessionPolicy.mayReplayTool(rule, crash, tool))
    }

    const awaitGaveUp: Effect.Effect<never, McpError.GaveUp> = Deferred.await(gaveUp)

    const service: Service = {
      transport: description,
      get serverInfo(): Implementation {
        return latest.serverInfo
      },
      get serverCapabilities() {
        return latest.serverCapabilities
      },
      get instructions() {
        return latest.instructions
      },
      callTool: (params, callOptions) =>
        run(
          "tools/call",
          params.name,
          (s) => s.callTool(params, callOptions),
          mayReplayTool(params.name, callOptions?.replay ?? policy.replay)
        ),
      callToolStream: (params, streamOptions) =>
        Stream.unwrap(
          Effect.map(acquire(0, undefined), (live) => live.session.callToolStream(params, streamOptions))
        ),
      listTools: (requestOptions) =>
        run("tools/list", undefined, (s) => s.listTools(requestOptions), always).pipe(
          Effect.tap((listed) => {
            tools.clear()
            for (const tool of listed) tools.set(tool.name, tool)
          })
        ),
      listResources: (o) => run("resources/list", undefined, (s) => s.listResources(o), always),
      listResourceTemplates: (o) => run("resources/templates/list", undefined, (s) => s.listResourceTemplates(o), always),
      readResource: (params, o) => run("resources/read", params.uri, (s) => s.readResource(params, o), always),
      listPrompts: (o) => run("prompts/list", undefined, (s) => s.listPrompts(o), always),
      getPrompt: (params, o) => run("prompts/get", params.name, (s) => s.getPrompt(params, o), always),
      complete: (params, o) => run("completion/complete", undefined, (s) => s.complete(params, o), always),
      setLoggingLevel: (level, o) => run("logging/setLevel", level, (s) => s.setLoggingLevel(level, o), always),
      ping: (o) => run("ping", undefined, (s) => s.ping(o), always),
      notifications: Stream.fromPubSub(notifications).pipe(Stream.interruptWhen(awaitGaveUp)),
      await: awaitGaveUp
    }

    const lifecycle: Lifecycle["Type"] = {
      state: Effect.map(SubscriptionRef.get(state), (s): LifecycleState =>
        s._tag === "Connected" ? { _tag: "Connected", generation: s.live.generation } : s),
      // subscribe first, then read the state: nothing falls between the two
      events: Stream.unwrapScoped(Effect.gen(function*() {
        const subscription = yield* PubSub.subscribe(events)
        const current = yield* SubscriptionRef.get(state)
        return Stream.concat(Stream.make(currentAsEvent(current)), Stream.fromQueue(subscription))
      }))
    }
    return { session: service, lifecycle }
  })

const currentAsEvent = (state: State): LifecycleEvent => {
  switch (state._tag) {
    case "Connected":
      return { _tag: "Connected", generation: state.live.generation, serverInfo: state.live.session.serverInfo }
    case "Reconnecting":
      return { _tag: "Crashed", generation: state.generation, error: state.error }
    case "GaveUp":
      return { _tag: "GaveUp", error: state.error }
  }
}

/** @internal */
export const layer = <R = never>(
  options: Options<R>,
  policy?: McpSessionPolicy.McpSessionPolicy | undefined
): Layer.Layer<McpSession | Lifecycle, McpError.GaveUp, R> =>
  Layer.scopedContext(
    Effect.map(make(options, policy), ({ lifecycle, session }) =>
      Context.make(McpSession, session).pipe(Context.add(Lifecycle, lifecycle)))
  )
