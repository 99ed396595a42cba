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

Cli.run(process.argv.slice(2)).pipe(
  Effect.provide(Environment),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    teardown: (exit, onExit) => {
      const code: number = Exit.isSuccess(exit)
        ? exit.value as number
        : Cause.isInterruptedOnly(exit.cause)
        ? ExitCode.Interrupted
        : ExitCode.Internal
      if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
        process.stderr.write(`mcp-session: internal error: ${Cause.pretty(exit.cause)}\n`)
      }
      onExit(code)
      // writes to pipes, files and terminals are synchronous on POSIX: nothing is lost by exiting now, and
      // no lingering socket of a keep-alive pool holds the process open
      process.exit(code)
    }
  })
)
