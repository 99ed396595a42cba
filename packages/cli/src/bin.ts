#!/usr/bin/env node
/**
 * The `mcp-session` executable: `Cli.run` on Node, its result as the process's exit code.
 *
 * @since 0.1.0
 */
// per module: the package's index loads every module (HTTP server, workers...), which costs startup time
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Cli from "./Cli.js"
import { ExitCode } from "./ExitCode.js"
import * as Output from "./Output.js"

const Environment = Layer.mergeAll(
  NodeContext.layer,
  NodeHttpClient.layerUndici,
  Output.layerProcess,
  // logs (only with --log-level) go to stderr: stdout carries results
  Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true }))
)

/**
 * Resolves once `stream` has handed everything written to it to the OS, or is closed. Writes to a pipe are
 * asynchronous: exiting earlier cuts off what a slow reader has not taken yet. Bounded, so that a reader
 * that stopped reading cannot hold the process: it gives up when nothing has moved for 5 s, or after 60 s.
 */
const drained = (stream: NodeJS.WriteStream): Promise<void> =>
  new Promise((resolve) => {
    const started = Date.now()
    let pending = stream.writableLength
    let movedAt = started
    const done = () => stream.writableLength === 0 || stream.destroyed
    if (done()) return resolve()
    const poll = setInterval(() => {
      const now = Date.now()
      if (stream.writableLength < pending) {
        pending = stream.writableLength
        movedAt = now
      }
      if (done() || now - movedAt > 5_000 || now - started > 60_000) {
        clearInterval(poll)
        resolve()
      }
    }, 10)
  })

Cli.run(process.argv.slice(2)).pipe(
  Effect.provide(Environment),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    // its pretty logger writes to stdout; ours (above) writes to stderr
    disablePrettyLogger: true,
    teardown: (exit, onExit) => {
      const code: number = Exit.isSuccess(exit)
        ? exit.value as number
        : Cause.isInterruptedOnly(exit.cause)
        ? ExitCode.Interrupted
        : ExitCode.Internal
      if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
        process.stderr.write(`mcp-session: internal error: ${Cause.pretty(exit.cause)}\n`)
      }
      // exit once stdout and stderr are flushed, rather than when the event loop is empty: a lingering socket
      // of a keep-alive pool must not hold the process open
      void Promise.all([drained(process.stdout), drained(process.stderr)]).then(() => {
        onExit(code)
        process.exit(code)
      })
    }
  })
)
