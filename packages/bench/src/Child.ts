/**
 * Measures run in a fresh `node --expose-gc --import tsx` process: the entry prints `RESULT <json>` (see
 * {@link encode}), which the bench reads back.
 *
 * @since 0.1.0
 */
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { Env } from "./Clients.js"

const packageDir = fileURLToPath(new URL("..", import.meta.url))

/**
 * A result as the line a child prints: JSON, with `Infinity` (a sample that hung) kept.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (value: unknown): string =>
  `RESULT ${JSON.stringify(value, (_, v) => (v === Number.POSITIVE_INFINITY ? "Infinity" : v))}`

const decode = (text: string): unknown => JSON.parse(text, (_, v) => (v === "Infinity" ? Number.POSITIVE_INFINITY : v))

/**
 * Runs `entry` (a file of this package's `src`) with `arg` in a fresh process, bounded by `timeoutMillis`
 * (then killed), and returns the result it printed. `what` names it in the error of a failed run.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = <A>(entry: string, arg: string, what: string, timeoutMillis: number): Effect.Effect<A, Error> =>
  Effect.async<A, Error>((resume) => {
    const file = fileURLToPath(new URL(`./${entry}`, import.meta.url))
    const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", file, arg], {
      cwd: packageDir,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (chunk: Buffer) => void (stdout += chunk.toString()))
    child.stderr!.on("data", (chunk: Buffer) => void (stderr += chunk.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMillis)
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      const line = stdout.split("\n").find((l) => l.startsWith("RESULT "))
      if (code === 0 && line !== undefined) resume(Effect.succeed(decode(line.slice(7)) as A))
      else resume(Effect.fail(new Error(`${what} failed (${code ?? signal}): ${stderr.slice(-2000)}`)))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    })
  })

/**
 * The body of a child's entry: runs `measure` with the bench's services and logs off, prints its result
 * (see {@link encode}) and exits 0, or prints the error and exits 1.
 *
 * @since 0.1.0
 * @category constructors
 */
export const main = <A>(measure: Effect.Effect<A, unknown, Env>): void => {
  Effect.runPromise(
    measure.pipe(
      Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)),
      Logger.withMinimumLogLevel(LogLevel.None)
    )
  ).then(
    (result) => {
      process.stdout.write(`${encode(result)}\n`)
      process.exit(0)
    },
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`)
      process.exit(1)
    }
  )
}
