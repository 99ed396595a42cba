/**
 * What a resilient session does when its transport dies: how it rebuilds (a `Schedule`), which calls it
 * replays, what callers do meanwhile, and how it detects a silent peer.
 *
 * @since 0.1.0
 */
import type { Tool } from "@modelcontextprotocol/sdk/types.js"
import * as Duration from "effect/Duration"
import * as Schedule from "effect/Schedule"
import type { InitializeFailed, TransportCrashed } from "./McpError.js"

/**
 * Which `tools/call` requests may be sent again after their transport died. Listing, reading, getting
 * prompts, completing and pinging are read-only and always replayed.
 *
 * - `NotDelivered` (default): only when the request provably never reached the server (never sent,
 *   connection refused, the POST was answered 4xx, the session had expired).
 * - `Idempotent`: also tools annotated `readOnlyHint` or `idempotentHint` (as listed by `tools/list`, on
 *   the session the replay would run on). A call to a tool the last listing gives neither hint fails at
 *   once, without waiting for a rebuilt session.
 * - `Always`: every call (at-least-once: a tool may run twice).
 * - `Never`: no tool call is replayed.
 *
 * @since 0.1.0
 * @category models
 */
export type ReplayRule = "NotDelivered" | "Idempotent" | "Always" | "Never"

/**
 * Liveness checks: a `ping` every `interval`; each ping not answered within `timeout` is a miss; after
 * `maxMissed` misses in a row the transport is declared dead with `LivenessLost`.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeepAlive {
  readonly interval: Duration.DurationInput
  readonly timeout: Duration.DurationInput
  readonly maxMissed: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface McpSessionPolicy {
  /**
   * Drives the attempts to rebuild the session after a crash (and to build it at first). Its input is the
   * error of the failed attempt; when it ends, the session gives up with `GaveUp`. A crash starts it anew,
   * and the first attempt after it is immediate, unless the server asked for a wait (see `maxRetryAfter`)
   * or the crashed session was itself rebuilt less than `resetAfter` before (see there).
   */
  readonly reconnect: Schedule.Schedule<unknown, TransportCrashed | InitializeFailed>
  /**
   * Whether an attempt to build the session that failed with this error may be followed by another. When it
   * says no, the session gives up at once with `GaveUp` carrying that error, whatever `reconnect` would
   * still allow. Default: `isRetryable` (the error's `retryable`: a wrong URL, a refused credential, a
   * missing command, no protocol version in common are permanent). `() => true` leaves it all to `reconnect`.
   * A crash of a live session is always followed by one attempt; this judges the attempts.
   */
  readonly retryable: (error: TransportCrashed | InitializeFailed) => boolean
  /**
   * How long a rebuilt session must live for its crash to start `reconnect` anew. A rebuilt session that
   * crashes sooner counts as a failed attempt of the rebuild that made it: the schedule goes on (the next
   * attempt waits its next delay, and its end gives up with `GaveUp`), so a server that dies right after
   * each handshake is not rebuilt in a tight loop for ever. `Duration.zero` starts the schedule anew at
   * every crash.
   */
  readonly resetAfter: Duration.Duration
  /** The replay rule for `tools/call`. A call may override it with `callTool(params, { replay })`. */
  readonly replay: ReplayRule
  /** How many times one call may be replayed. */
  readonly maxReplays: number
  /** While the session is being rebuilt: `"wait"` for it (bounded by `maxWait`) or `"fail"` at once. */
  readonly whileReconnecting: "wait" | "fail"
  /** Bound on how long a call waits for a rebuilt session. */
  readonly maxWait: Duration.Duration
  /** Liveness checks, or `undefined` for none. */
  readonly keepAlive: KeepAlive | undefined
  /**
   * Bound on how long a rebuild waits because the server asked (an `HttpStatus` reason with `retryAfter`,
   * from an HTTP `Retry-After` header): the attempt after such a failure waits what the server asked, up to
   * this bound, or the schedule's delay if that is longer. `Duration.zero` ignores what servers ask.
   */
  readonly maxRetryAfter: Duration.Duration
}

/**
 * The default reconnect schedule: exponential from 100 ms (factor 2), each delay capped at 5 s, then
 * jittered (× 0.8 to 1.2, so at most 6 s), at most 10 attempts after the first.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultReconnect: Schedule.Schedule<unknown, TransportCrashed | InitializeFailed> = Schedule
  .exponential("100 millis", 2)
  .pipe(
    Schedule.union(Schedule.spaced("5 seconds")),
    Schedule.jittered,
    Schedule.intersect(Schedule.recurs(10))
  )

/**
 * Whether an error of an attempt to build a session may pass if tried again: its `retryable`. The default
 * of `McpSessionPolicy.retryable`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isRetryable = (error: TransportCrashed | InitializeFailed): boolean => error.retryable

/**
 * The default keep-alive: a ping every 15 s, a miss after 5 s, dead after 2 misses in a row (a silent
 * peer is detected within about 40 s). Liveness is on by default in `layerResilient`: a peer that stops
 * answering without closing its connection is otherwise only noticed by the next call's timeout.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultKeepAlive: KeepAlive = { interval: "15 seconds", timeout: "5 seconds", maxMissed: 2 }

/**
 * @since 0.1.0
 * @category constructors
 */
export const defaultPolicy: McpSessionPolicy = {
  reconnect: defaultReconnect,
  retryable: isRetryable,
  replay: "NotDelivered",
  maxReplays: 1,
  whileReconnecting: "wait",
  maxWait: Duration.seconds(30),
  keepAlive: defaultKeepAlive,
  maxRetryAfter: Duration.seconds(30),
  resetAfter: Duration.seconds(10)
}

/**
 * A policy from the defaults and the given overrides. `keepAlive: false` turns liveness checks off;
 * `retryable: () => true` retries permanent failures too, as far as `reconnect` allows.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly reconnect?: Schedule.Schedule<unknown, TransportCrashed | InitializeFailed> | undefined
  readonly retryable?: ((error: TransportCrashed | InitializeFailed) => boolean) | undefined
  readonly replay?: ReplayRule | undefined
  readonly maxReplays?: number | undefined
  readonly whileReconnecting?: "wait" | "fail" | undefined
  readonly maxWait?: Duration.DurationInput | undefined
  readonly keepAlive?: KeepAlive | false | undefined
  readonly maxRetryAfter?: Duration.DurationInput | undefined
  readonly resetAfter?: Duration.DurationInput | undefined
} = {}): McpSessionPolicy => ({
  reconnect: options.reconnect ?? defaultPolicy.reconnect,
  retryable: options.retryable ?? defaultPolicy.retryable,
  replay: options.replay ?? defaultPolicy.replay,
  maxReplays: options.maxReplays ?? defaultPolicy.maxReplays,
  whileReconnecting: options.whileReconnecting ?? defaultPolicy.whileReconnecting,
  maxWait: options.maxWait !== undefined ? Duration.decode(options.maxWait) : defaultPolicy.maxWait,
  keepAlive: options.keepAlive === false ? undefined : options.keepAlive ?? defaultPolicy.keepAlive,
  maxRetryAfter: options.maxRetryAfter !== undefined ? Duration.decode(options.maxRetryAfter) : defaultPolicy.maxRetryAfter,
  resetAfter: options.resetAfter !== undefined ? Duration.decode(options.resetAfter) : defaultPolicy.resetAfter
})

/**
 * How long the server asked to be left alone after this failure (an HTTP `Retry-After` answer), bounded
 * by `max`; `undefined` when it did not ask.
 *
 * @since 0.1.0
 * @category combinators
 */
export const retryAfter = (
  error: TransportCrashed | InitializeFailed,
  max: Duration.Duration
): Duration.Duration | undefined => {
  if (error._tag !== "TransportCrashed" || error.reason._tag !== "HttpStatus" || error.reason.retryAfter === undefined) {
    return undefined
  }
  return Duration.min(error.reason.retryAfter, max)
}

/**
 * Whether a `tools/call` that failed with this crash may be sent again under `rule`. `tool` is what
 * `tools/list` said of the tool, if known.
 *
 * @since 0.1.0
 * @category guards
 */
export const mayReplayTool = (rule: ReplayRule, error: TransportCrashed, tool: Tool | undefined): boolean => {
  switch (rule) {
    case "Never":
      return false
    case "Always":
      return true
    case "NotDelivered":
      return error.delivery === "NotDelivered"
    case "Idempotent":
      return error.delivery === "NotDelivered" ||
        tool?.annotations?.readOnlyHint === true ||
        tool?.annotations?.idempotentHint === true
  }
}
