/**
 * Whether an error shows a secret, however it is shown: the header values a transport sends must never
 * appear in what fails.
 */
import type { NodeMcpTransport } from "@effect-mcp/platform-node"
import { assert } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import { inspect } from "node:util"
import { crashOf } from "./utils.js"

/** The header values the secret tests send, and must find in no error. */
export const secrets: ReadonlyArray<string> = ["SECRET-STATIC", "SECRET-PLAIN", "SECRET-COMPUTED"]

/** The ways the secret tests give headers: static (Redacted and plain), and computed per request. */
export const secretHeaders: ReadonlyArray<Pick<NodeMcpTransport.StreamableHttpOptions, "headers">> = [
  { headers: { authorization: Redacted.make("Bearer SECRET-STATIC"), "x-api-token": "SECRET-PLAIN" } },
  { headers: Effect.sync(() => ({ "x-api-token": Redacted.make("SECRET-COMPUTED") })) }
]

/**
 * The ways an error is shown: `JSON.stringify`, `util.inspect` at any depth, `Cause.pretty`, and the lines
 * that `Effect.logError` writes of it and of its Cause (logfmt, string, JSON and structured loggers).
 */
export const renderings = (error: unknown): Effect.Effect<Record<string, string>> =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const capture = Logger.make((options) => {
      lines.push(
        Logger.logfmtLogger.log(options),
        Logger.stringLogger.log(options),
        Logger.jsonLogger.log(options),
        inspect(Logger.structuredLogger.log(options), { depth: null })
      )
    })
    yield* Effect.logError(error).pipe(
      Effect.zipRight(Effect.logError("failed", Cause.fail(error))),
      Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
      Logger.withMinimumLogLevel(LogLevel.All)
    )
    let json: string
    try {
      json = JSON.stringify(error)
    } catch (e) {
      json = `not JSON: ${String(e)}`
    }
    return { json, inspect: inspect(error, { depth: null }), pretty: Cause.pretty(Cause.fail(error)), log: lines.join("\n") }
  })

/** Asserts that no rendering of `error` contains any of `secrets`. */
export const assertNoSecret = (error: unknown, secrets: ReadonlyArray<string>, what: string) =>
  Effect.map(renderings(error), (shown) => {
    for (const [how, text] of Object.entries(shown)) {
      for (const secret of secrets) assert.notInclude(text, secret, `${what}: ${how} shows a header value`)
    }
  })

/** An opening refused (nobody listens): it fails keeping the network error (ECONNREFUSED), and no header value. */
export const assertRefusedWithoutSecret = <A, E, R>(opening: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const refused = crashOf(yield* Effect.exit(opening))
    assert.include(inspect(refused, { depth: null }), "ECONNREFUSED")
    yield* assertNoSecret(refused, secrets, "refused")
  })
