import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Deadlines from "../src/internal/deadlines.js"
import { liveLikeClock, maxTimerMillis } from "./utils.js"

/** Deadlines whose timer fibers run on the runtime of the effect that makes them, as a session's do. */
const makeDeadlines = Effect.flatMap(Effect.runtime<never>(), (runtime) => Deadlines.make(Runtime.runFork(runtime)))

describe("Deadlines", () => {
  it.scoped("each deadline expires at its own time on the Clock, with one sleep at a time", () =>
    Effect.gen(function*() {
      const deadlines = yield* makeDeadlines
      const expired: Array<string> = []
      const sleeps = Effect.map(TestClock.sleeps(), Chunk.size)
      deadlines.add(5000, () => expired.push("5s"))
      deadlines.add(5000, () => expired.push("5s again"))
      deadlines.add(9000, () => expired.push("9s"))
      const cancel = deadlines.add(7000, () => expired.push("7s, cancelled"))
      deadlines.add(Infinity, () => expired.push("never"))
      yield* Effect.yieldNow()
      assert.strictEqual(yield* sleeps, 1)
      // a shorter deadline moves the timer
      deadlines.add(1000, () => expired.push("1s"))
      yield* Effect.yieldNow()
      yield* TestClock.adjust("999 millis")
      assert.deepStrictEqual(expired, [])
      yield* TestClock.adjust("1 milli")
      assert.deepStrictEqual(expired, ["1s"])
      cancel()
      yield* TestClock.adjust("4 seconds")
      assert.deepStrictEqual(expired, ["1s", "5s", "5s again"])
      yield* TestClock.adjust("4 seconds")
      assert.deepStrictEqual(expired, ["1s", "5s", "5s again", "9s"])
      yield* TestClock.adjust("1 day")
      assert.deepStrictEqual(expired, ["1s", "5s", "5s again", "9s"])
    }))

  it.scoped("a deadline beyond the longest timer (2^31-1 ms) still expires at its time, on a Clock like the live one", () =>
    Effect.gen(function*() {
      const clock = yield* liveLikeClock
      const deadlines = yield* Effect.withClock(makeDeadlines, clock)
      const expired: Array<string> = []
      const long = 3 * maxTimerMillis + 5000
      deadlines.add(long, () => expired.push("long"))
      deadlines.add(Infinity, () => expired.push("never"))
      yield* Effect.yieldNow()
      yield* TestClock.adjust(Duration.millis(long - 1))
      assert.deepStrictEqual(expired, [])
      yield* TestClock.adjust("1 milli")
      assert.deepStrictEqual(expired, ["long"])
      // a shorter one added later still moves the timer
      deadlines.add(maxTimerMillis + 1, () => expired.push("just above"))
      deadlines.add(1000, () => expired.push("1s"))
      yield* Effect.yieldNow()
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(expired, ["long", "1s"])
      yield* TestClock.adjust(Duration.millis(maxTimerMillis + 1 - 1000))
      assert.deepStrictEqual(expired, ["long", "1s", "just above"])
      yield* TestClock.adjust(Duration.days(365 * 100))
      assert.deepStrictEqual(expired, ["long", "1s", "just above"])
    }))

  it.scoped("a callback that throws is logged, and the others and later deadlines still expire", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const deadlines = yield* makeDeadlines.pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => void logged.push(String(message)))))
      )
      const expired: Array<string> = []
      deadlines.add(1000, () => {
        throw new Error("boom")
      })
      deadlines.add(1000, () => expired.push("1s"))
      deadlines.add(2000, () => expired.push("2s"))
      yield* Effect.yieldNow()
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(expired, ["1s"])
      assert.deepStrictEqual(logged, ["a deadline's callback failed"])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(expired, ["1s", "2s"])
    }))

  it.effect("closing the scope stops the timer: nothing expires after it", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const deadlines = yield* Scope.extend(makeDeadlines, scope)
      const expired: Array<string> = []
      deadlines.add(1000, () => expired.push("1s"))
      yield* Effect.yieldNow()
      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(expired, [])
    }))
})
