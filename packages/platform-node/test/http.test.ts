/**
 * The HTTP transports' shared helpers, alone.
 */
import { McpError } from "@effect-mcp/session"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Http from "../src/internal/http.js"

describe("serverAnswers", () => {
  it.scoped("the shared probe answers the others when the first that asked is interrupted", () =>
    Effect.gen(function*() {
      const background = yield* FiberSet.make<void, never>()
      let probes = 0
      // the server answers the OPTIONS after 300 ms (a 500 is an answer: it is there)
      const execute: Parameters<typeof Http.serverAnswers>[0] = () =>
        Effect.suspend(() => {
          probes++
          return Effect.sleep("300 millis").pipe(
            Effect.zipRight(
              Effect.fail(new Http.TransportFailure(new McpError.HttpStatus({ status: 500, method: "OPTIONS", body: "" })))
            )
          )
        })
      const serverIsThere = Http.serverAnswers(execute, new URL("http://127.0.0.1:1/mcp"), Duration.seconds(5), background)
      const first = yield* Effect.fork(serverIsThere)
      yield* Effect.yieldNow()
      const second = yield* Effect.fork(serverIsThere)
      yield* Effect.yieldNow()
      // the first asker goes away (its stream abandoned, say) while the probe is under way
      yield* Fiber.interrupt(first)
      yield* TestClock.adjust("300 millis")
      const answer = yield* Fiber.join(second).pipe(Effect.timeoutOption("1 second"))
      assert.deepStrictEqual(answer, Option.some(true))
      assert.strictEqual(probes, 1)
    }))
})
