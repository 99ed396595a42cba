import type { Implementation, ServerNotification, Tool } from "@modelcontextprotocol/sdk/types.js"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
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
  /** When it was built, on the Clock. */
  readonly builtAt: number
}

/**
 * The attempts since a crash that started the reconnect schedule anew, with that schedule's driver: a rebuilt
 * session that dies young goes on with them.
 */
interface Episode {
  readonly driver: Schedule.ScheduleDriver<unknown, McpError.TransportCrashed | McpError.InitializeFailed>
  attempts: number
}

/** What `tools/list` said, and on which generation: a rebuilt server may say otherwise. */
interface ListedTools {
  readonly generation: number
  readonly tools: ReadonlyMap<string, Tool>
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
    // the tool annotations the Idempotent rule reads; forgotten when the server says its tools changed
    let listed: ListedTools | undefined = undefined
    // how many times the server said so: a listing under way meanwhile may mix old and new, and is not kept
    let toolChanges = 0
    // every generation's notifications, as they arrive (a closed generation's transport delivers no more)
    const sessionOptions: session.InternalOptions<R> = {
      ...options,
      keepAlive: options.keepAlive ?? policy.keepAlive,
      onNotification: (notification) => {
        if (notification.method === "notifications/tools/list_changed") {
          listed = undefined
          toolChanges++
        }
        notifications.unsafeOffer(notification)
      }
    }
    const gaveUp = yield* Deferred.make<never, McpError.GaveUp>()
    // done when the layer's scope closes: callers waiting for a rebuild stop waiting
    const closing = yield* Deferred.make<void>()
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
     * Closes a generation's scope whole, in a fiber of its own, awaited uninterruptibly. Run in the manager's
     * fiber, the close could be cut short when the layer's shutdown interrupts the manager: a scope counts as
     * closed from its first finalizer on (its parent would not close the rest), and the interruption could
     * reach the finalizers' own bounded waits. Now the shutdown waits for it instead.
     */
    const closeWhole = (child: Scope.CloseableScope, exit: Exit.Exit<unknown, unknown>) =>
      Effect.uninterruptible(Effect.flatMap(Effect.forkIn(Scope.close(child, exit), scope), Fiber.await))

    const newEpisode = Effect.map(Schedule.driver(policy.reconnect), (driver): Episode => ({ driver, attempts: 0 }))

    /**
     * A failed attempt of `episode`: published, then the schedule's next delay (or the server's, whichever is
     * longer) is waited; `GaveUp` when the schedule ends, or at once when `judge`d and the policy says the
     * error is permanent (an attempt's own error; a young generation's crash is not judged).
     */
    const failedAttempt = (
      episode: Episode,
      error: McpError.TransportCrashed | McpError.InitializeFailed,
      judge: boolean
    ) =>
      Effect.gen(function*() {
        yield* publish({ _tag: "Rebuilding", attempt: episode.attempts, error })
        yield* Effect.logInfo(`attempt ${episode.attempts} failed: ${error.message}`)
        if (judge && !policy.retryable(error)) {
          return yield* new McpError.GaveUp({ transport: description, attempts: episode.attempts, lastError: error })
        }
        const scheduledAt = yield* Clock.currentTimeMillis
        const next = yield* Effect.option(episode.driver.next(error))
        if (Option.isNone(next)) {
          return yield* new McpError.GaveUp({ transport: description, attempts: episode.attempts, lastError: error })
        }
        yield* honourRetryAfter(error, (yield* Clock.currentTimeMillis) - scheduledAt)
      })

    /** Builds a session, retrying per the episode's schedule; each attempt in a scope of its own. */
    const connect = (generation: number, episode: Episode): Effect.Effect<Live, McpError.GaveUp, R> =>
      Effect.gen(function*() {
        while (true) {
          episode.attempts++
          const child = yield* Scope.fork(scope, ExecutionStrategy.sequential)
          const exit = yield* session.makeLive({ ...sessionOptions, generation }).pipe(Scope.extend(child), Effect.exit)
          if (Exit.isSuccess(exit)) {
            const builtAt = yield* Clock.currentTimeMillis
            return { generation, session: exit.value.service, isCrashed: exit.value.isCrashed, scope: child, builtAt }
          }
          yield* closeWhole(child, exit)
          const failure = Cause.failureOption(exit.cause)
          if (Option.isNone(failure)) return yield* Effect.die(Cause.squash(exit.cause))
          yield* failedAttempt(episode, failure.value, true)
        }
      }).pipe(Effect.annotateLogs({ module: "McpSession", method: "connect", transport: description, generation }))

    const first = yield* Effect.flatMap(newEpisode, (episode) => connect(1, episode)).pipe(
      Effect.tapError((error) => Metric.increment(McpMetrics.gaveUp).pipe(Effect.zipRight(publish({ _tag: "GaveUp", error }))))
    )
    // what the latest session said of its server: data only, so that a dead session is not kept by it
    // (after giving up, it would stay for the resilient session's life)
    const infoOf = ({ instructions, protocolVersion, serverCapabilities, serverInfo }: Service) => ({
      instructions,
      protocolVersion,
      serverCapabilities,
      serverInfo
    })
    let latest = infoOf(first.session)
    const state = yield* SubscriptionRef.make<State>({ _tag: "Connected", live: first })
    // what `state` holds, read without an effect by a call's first attempt
    let current: State = { _tag: "Connected", live: first }
    const setState = (next: State) => Effect.zipRight(Effect.sync(() => void (current = next)), SubscriptionRef.set(state, next))
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
    // the attempts since the last crash that started the schedule anew (none before the first crash)
    let episode: Episode | undefined = undefined
    const resetAfterMillis = Duration.toMillis(policy.resetAfter)
    /** The crash of `live`, awaited, and the rebuild after it: the next generation, or none when done. */
    const crashAndRebuild = (live: Live): Effect.Effect<Live | undefined, never, R> =>
      Effect.gen(function*() {
        const crash = yield* Effect.flip(live.session.await)
        if (crash._tag !== "TransportCrashed") return undefined
        const crashedAt = yield* Clock.currentTimeMillis
        yield* Effect.logWarning(`transport crashed: ${crash.message}`)
        yield* setState({ _tag: "Reconnecting", generation: live.generation, error: crash })
        yield* publish({ _tag: "Crashed", generation: live.generation, error: crash })
        yield* closeWhole(live.scope, Exit.void)
        // A rebuilt session that died young was a failed attempt of its episode, which goes on; any other
        // crash starts a new one, whose first attempt goes at once (unless the server asked for a wait).
        const young = episode !== undefined && live.generation > 1 && crashedAt - live.builtAt < resetAfterMillis
        const rebuild = young
          ? Effect.zipRight(failedAttempt(episode!, crash, false), connect(live.generation + 1, episode!))
          : Effect.flatMap(newEpisode, (fresh) => {
            episode = fresh
            return Effect.zipRight(honourRetryAfter(crash, 0), connect(live.generation + 1, fresh))
          })
        const next = yield* Effect.exit(rebuild)
        if (Exit.isFailure(next)) {
          const failure = Cause.failureOption(next.cause)
          if (Option.isNone(failure) && Cause.isInterruptedOnly(next.cause)) return yield* Effect.interrupt
          // A defect in an attempt (a transport's bug) ends the rebuilding too: callers and `await` get a
          // typed GaveUp instead of waiting on a manager that is gone, and the defect is logged.
          const error = Option.getOrElse(
            failure,
            () => new McpError.GaveUp({ transport: description, attempts: episode?.attempts ?? 0, lastError: crash })
          )
          if (Option.isNone(failure)) yield* Effect.logError("rebuilding failed with a defect", next.cause)
          yield* setState({ _tag: "GaveUp", error })
          yield* Metric.increment(McpMetrics.gaveUp)
          yield* publish({ _tag: "GaveUp", error })
          yield* Effect.logError(error.message)
          yield* Deferred.fail(gaveUp, error)
          return undefined
        }
        const rebuilt = next.value
        latest = infoOf(rebuilt.session)
        yield* setState({ _tag: "Connected", live: rebuilt })
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
    // runs before the manager is interrupted (finalizers run in reverse order)
    yield* Effect.addFinalizer(() => Deferred.succeed(closing, undefined))

    /**
     * The live session of a generation above `after`: at once if there is one, else wait for the manager
     * (bounded) or fail fast, as the policy says. `crash` is the crash of a call's earlier attempt that may
     * have reached the server: when there is one, the call fails with it rather than with what stops the
     * wait (a `GaveUp`, the wait's bound, the layer's close), so that the caller knows the call may have
     * run. `last` is the crash of the earlier attempt, whatever its delivery.
     */
    const waits = policy.whileReconnecting !== "fail"
    const acquire = (
      after: number,
      crash: McpError.TransportCrashed | undefined,
      last: McpError.TransportCrashed | undefined
    ): Effect.Effect<Live, McpError.TransportCrashed | McpError.GaveUp> =>
      Effect.flatMap(SubscriptionRef.get(state), (current) => {
        /** What the call goes on with in a state: a live session above `after`, or the end; else nothing yet. */
        const settled = (s: State): Effect.Effect<Live, McpError.TransportCrashed | McpError.GaveUp> | undefined =>
          // a caller that waits does not go to a generation whose transport is known dead, though the manager
          // has not taken note yet; one that fails fast fails there, with the death's reason
          s._tag === "Connected" && s.live.generation > after && !(waits && s.live.isCrashed())
            ? Effect.succeed(s.live)
            : s._tag === "GaveUp"
            ? Effect.fail(crash ?? s.error)
            : undefined
        const now = settled(current)
        if (now !== undefined) return now
        /** Why the call cannot go on without a rebuilt session, as read now. */
        const reconnecting = (s: State): McpError.TransportCrashed =>
          crash ?? (s._tag === "Reconnecting" ? s.error.withDelivery("NotDelivered") : last ?? closed())
        // `Connected` at or below `after`: its transport died, and the manager has not taken note yet
        if (policy.whileReconnecting === "fail") return Effect.fail(reconnecting(current))
        return state.changes.pipe(
          Stream.interruptWhen(Deferred.await(closing)),
          Stream.filter((s) => settled(s) !== undefined),
          Stream.runHead,
          Effect.timeoutTo({
            duration: policy.maxWait,
            onSuccess: (s) => Effect.succeed(s),
            onTimeout: () => Effect.map(SubscriptionRef.get(state), (s) => Option.some<State>(s))
          }),
          Effect.flatten,
          Effect.flatMap((s) =>
            Option.isNone(s) ? Effect.fail(crash ?? closed()) : settled(s.value) ?? Effect.fail(reconnecting(s.value))
          )
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
      call: (session: Service, generation: number) => Effect.Effect<A, E | McpError.TransportCrashed>,
      mayReplay: (crash: McpError.TransportCrashed, after: number) => Effect.Effect<boolean>
    ): Effect.Effect<A, E | McpError.TransportCrashed | McpError.GaveUp> =>
      Effect.suspend(() => {
        // the usual case: a live generation, and a first attempt that succeeds, with nothing else to do
        const now = current
        if (now._tag !== "Connected" || now.live.isCrashed()) return attempts(method, target, call, mayReplay, undefined)
        const live = now.live
        return call(live.session, live.generation).pipe(
          Effect.catchIf(
            (error): error is McpError.TransportCrashed => McpError.isTransportCrashed(error),
            (crash) => attempts(method, target, call, mayReplay, { live, crash })
          )
        )
      })

    const attempts = <A, E>(
      method: string,
      target: string | undefined,
      call: (session: Service, generation: number) => Effect.Effect<A, E | McpError.TransportCrashed>,
      mayReplay: (crash: McpError.TransportCrashed, after: number) => Effect.Effect<boolean>,
      first: { readonly live: Live; readonly crash: McpError.TransportCrashed } | undefined
    ): Effect.Effect<A, E | McpError.TransportCrashed | McpError.GaveUp> =>
      Effect.gen(function*() {
        let after = 0
        let maybeDelivered: McpError.TransportCrashed | undefined
        let last: McpError.TransportCrashed | undefined
        for (let attempt = 0;; attempt++) {
          let live: Live
          let exit: Exit.Exit<A, E | McpError.TransportCrashed>
          if (attempt === 0 && first !== undefined) {
            // the first attempt ran on the fast path, and crashed
            live = first.live
            exit = Exit.fail(first.crash)
          } else {
            live = yield* acquire(after, maybeDelivered, last)
            if (attempt > 0) {
              // counted and told when it goes, not when it is decided: the wait for a session may end it
              yield* Metric.increment(Metric.tagged(McpMetrics.replays, "method", method))
              yield* publish({ _tag: "Replayed", method, target, attempt })
            }
            exit = yield* Effect.exit(Effect.locally(call(live.session, live.generation), session.currentAttempt, attempt + 1))
          }
          if (Exit.isSuccess(exit)) return exit.value
          const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          if (!McpError.isTransportCrashed(failure)) return yield* exit
          if (failure.delivery !== "NotDelivered") maybeDelivered = failure
          last = failure
          // the next attempt goes to a later generation if the transport died, else to this one
          after = live.isCrashed() ? live.generation : live.generation - 1
          if (attempt >= policy.maxReplays || !(yield* mayReplay(failure, after))) {
            return yield* Effect.fail(maybeDelivered ?? failure)
          }
          yield* logReplay(method, target, failure, live)
        }
      })

    // annotated here, not around every call: nothing else in a request logs
    const logReplay = (method: string, target: string | undefined, failure: McpError.TransportCrashed, live: Live) =>
      Effect.logDebug(`replaying ${method}${target !== undefined ? ` ${target}` : ""} (${failure.reason._tag})`).pipe(
        Effect.annotateLogs({
          module: "McpSession",
          method,
          transport: description,
          server: live.session.serverInfo.name,
          generation: live.generation
        })
      )

    const always = () => Effect.succeed(true)

    /**
     * Lists the tools on a session and remembers them for the Idempotent rule, unless the server said its
     * tools changed while they were listed (its answer and the notification may be read together, in
     * either order). `current` tells whether the listing is as the server says now.
     */
    const listAndRemember = (s: Service, generation: number, requestOptions?: McpSessionNs.RequestOptions) =>
      Effect.suspend(() => {
        const changes = toolChanges
        return Effect.map(s.listToolsWithCache(requestOptions), (listing) => {
          const current = changes === toolChanges
          if (current) listed = { generation, tools: new Map(listing.tools.map((tool) => [tool.name, tool])) }
          return { tools: listing.tools, cache: listing.cache, current }
        })
      })

    /**
     * What `tools/list` says of a tool on a generation above `after`, the one a replay would run on: from
     * the last listing if it came from such a generation (and the server has not said its tools changed
     * since), else listed on that generation.
     */
    const toolInfo = (name: string, after: number): Effect.Effect<Tool | undefined> => {
      const known = listed !== undefined && listed.generation > after ? listed.tools.get(name) : undefined
      if (known !== undefined) return Effect.succeed(known)
      return acquire(after, undefined, undefined).pipe(
        // a server that says its tools changed as it answers (some do right after every handshake) is asked
        // again, twice at most
        Effect.flatMap((live) =>
          Effect.repeat(listAndRemember(live.session, live.generation), { while: ({ current }) => !current, times: 2 })
        ),
        // a listing the server changed meanwhile says nothing sure: not known, not replayed
        Effect.map(({ current, tools }) => current ? tools.find((tool) => tool.name === name) : undefined),
        Effect.orElseSucceed(() => undefined)
      )
    }

    const mayReplayTool = (name: string, rule: McpSessionPolicy.ReplayRule) =>
    (crash: McpError.TransportCrashed, after: number): Effect.Effect<boolean> => {
      if (rule !== "Idempotent" || crash.delivery === "NotDelivered") {
        return Effect.succeed(McpSessionPolicy.mayReplayTool(rule, crash, undefined))
      }
      // A tool the last listing (of any generation) gives no hint of replaying is not replayed, at once:
      // only a listing that would allow it is checked again on the session the replay would run on.
      if (listed !== undefined && !McpSessionPolicy.mayReplayTool(rule, crash, listed.tools.get(name))) {
        return Effect.succeed(false)
      }
      return Effect.map(toolInfo(name, after), (tool) => McpSessionPolicy.mayReplayTool(rule, crash, tool))
    }

    const awaitGaveUp: Effect.Effect<never, McpError.GaveUp> = Deferred.await(gaveUp)

    /**
     * A stream of a generation's, opened again on each new generation when its transport dies, with
     * `resubscribed` in between (something may have been missed meanwhile).
     */
    const followed = <A>(
      open: (live: Live) => Stream.Stream<A, McpError.RequestError>,
      resubscribed: (generation: number) => A
    ): Stream.Stream<A, McpError.RequestError> => {
      const from = (after: number, again: boolean): Stream.Stream<A, McpError.RequestError> =>
        Stream.unwrap(Effect.map(acquire(after, undefined, undefined), (live) => {
          const opened = open(live).pipe(
            Stream.catchSome((error) => error._tag === "TransportCrashed" ? Option.some(from(live.generation, true)) : Option.none())
          )
          return again ? Stream.concat(Stream.succeed(resubscribed(live.generation)), opened) : opened
        }))
      return from(0, false)
    }

    const service: Service = {
      transport: description,
      get serverInfo(): Implementation {
        return latest.serverInfo
      },
      get protocolVersion() {
        return latest.protocolVersion
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
          Effect.map(acquire(0, undefined, undefined), (live) => live.session.callToolStream(params, streamOptions))
        ),
      listTools: (requestOptions) =>
        run(
          "tools/list",
          undefined,
          (s, generation) => Effect.map(listAndRemember(s, generation, requestOptions), ({ tools }) => tools),
          always
        ),
      listToolsWithCache: (requestOptions) =>
        run(
          "tools/list",
          undefined,
          (s, generation) => Effect.map(listAndRemember(s, generation, requestOptions), ({ cache, tools }) => ({ tools, cache })),
          always
        ),
      listResources: (o) => run("resources/list", undefined, (s) => s.listResources(o), always),
      listResourceTemplates: (o) => run("resources/templates/list", undefined, (s) => s.listResourceTemplates(o), always),
      readResource: (params, o) => run("resources/read", params.uri, (s) => s.readResource(params, o), always),
      listPrompts: (o) => run("prompts/list", undefined, (s) => s.listPrompts(o), always),
      getPrompt: (params, o) => run("prompts/get", params.name, (s) => s.getPrompt(params, o), always),
      complete: (params, o) => run("completion/complete", undefined, (s) => s.complete(params, o), always),
      setLoggingLevel: (level, o) => run("logging/setLevel", level, (s) => s.setLoggingLevel(level, o), always),
      ping: (o) => run("ping", undefined, (s) => s.ping(o), always),
      // a generation's subscription ends with its transport; the next generation's takes over
      subscribe: (uri, o) =>
        followed((live) => live.session.subscribe(uri, o), (generation) => ({ _tag: "Resubscribed", uri, generation })),
      listChanged: (kind, o) =>
        followed((live) => live.session.listChanged(kind, o), (generation) => ({ _tag: "Resubscribed", kind, generation })),
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

/** @internal */
export const layerConfig = <R = never>(
  options: Config.Config.Wrap<Options<R>>,
  policy?: McpSessionPolicy.McpSessionPolicy | undefined
): Layer.Layer<McpSession | Lifecycle, McpError.GaveUp | ConfigError.ConfigError, R> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(options), (resolved) => layer(resolved, policy)))
