import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"

/**
 * The request deadlines of one session, on Effect's Clock, kept by a single timer fiber.
 *
 * `Effect.timeoutFail` forks two fibers per request (the request and a sleep), each with its own copy of the
 * caller's FiberRefs: with the race against the supervising fiber that is four fibers per call, most of a
 * request's cost. Here a request adds an entry and removes it when it settles; one fiber sleeps until the
 * earliest deadline. With a session's usual single timeout, deadlines come in the order of the requests, so
 * the timer is set once and moved only when a shorter timeout comes in.
 *
 * @internal
 */
export interface Deadlines {
  /** The time on the Clock, in milliseconds: monotonic on the live Clock, the test instant on `TestClock`. */
  readonly now: () => number
  /**
   * Calls `onExpire` once `millis` have passed on the Clock, unless the returned function runs first.
   * `Infinity` never expires.
   */
  readonly add: (millis: number, onExpire: () => void) => () => void
}

/**
 * The longest sleep Effect's live Clock honours: `setTimeout` takes at most 2^31-1 ms (about 24.8 days), and
 * the live Clock's scheduler treats a longer sleep as infinite (it never wakes). The timer sleeps at most
 * this long at a time, and sweeps again: a later deadline still expires at its time.
 */
const maxSleepMillis = 2 ** 31 - 1

interface Entry {
  readonly at: number
  readonly onExpire: () => void
}

/**
 * The timer fiber is forked with `runFork` (the session's, which already holds its runtime: a session costs
 * no more memory for its deadlines than a few fields), at most one at a time; closing the scope interrupts it.
 *
 * @internal
 */
export const make = (
  runFork: (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>
): Effect.Effect<Deadlines, never, Scope.Scope> => Effect.gen(function*() {
  const clock = yield* Effect.clock
  let timer: Fiber.RuntimeFiber<void> | undefined = undefined
  let closed = false
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      closed = true
      const last = timer
      timer = undefined
      return last === undefined ? Effect.void : Fiber.interrupt(last)
    })
  )
  // replaces (interrupts) the timer that slept until a later deadline
  const run = (effect: Effect.Effect<void>) => {
    if (closed) return
    timer?.unsafeInterruptAsFork(FiberId.none)
    timer = runFork(effect)
  }
  // monotonic on the live Clock (Date.now() may jump); the test instant on TestClock
  const now = () => Number(clock.unsafeCurrentTimeNanos()) / 1_000_000
  const entries = new Set<Entry>()
  // when the timer fiber wakes next; Infinity: no timer
  let wakeAt = Infinity

  const sleepUntil = (at: number, from: number): Effect.Effect<void> =>
    Effect.zipRight(clock.sleep(Duration.millis(Math.min(at - from, maxSleepMillis))), sweep)

  // expires what is due, then sleeps until the earliest deadline left; a callback that throws is logged
  // and stops neither the others nor the timer
  const sweep: Effect.Effect<void> = Effect.suspend(() => {
    const t = now()
    let next = Infinity
    const defects: Array<unknown> = []
    for (const entry of entries) {
      if (entry.at <= t) {
        entries.delete(entry)
        try {
          entry.onExpire()
        } catch (defect) {
          defects.push(defect)
        }
      } else if (entry.at < next) {
        next = entry.at
      }
    }
    wakeAt = next
    const rest = next === Infinity ? Effect.void : sleepUntil(next, t)
    return defects.length === 0
      ? rest
      : Effect.zipRight(Effect.forEach(defects, (defect) => Effect.logError("a deadline's callback failed", Cause.die(defect)), { discard: true }), rest)
  })

  return {
    now,
    add: (millis, onExpire) => {
      if (millis === Infinity) return () => {}
      const t = now()
      const entry: Entry = { at: t + millis, onExpire }
      entries.add(entry)
      if (entry.at < wakeAt) {
        wakeAt = entry.at
        run(sleepUntil(entry.at, t))
      }
      return () => void entries.delete(entry)
    }
  }
})
