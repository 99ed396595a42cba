/**
 * The entry point of the crash measure in its own process: `node --expose-gc --import tsx crashChild.ts
 * '<Crash.Options as JSON>'` prints `RESULT <rows>` (see `Child.encode`).
 *
 * @since 0.1.0
 */
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Child from "./Child.js"
import * as Crash from "./Crash.js"

const options = JSON.parse(process.argv[2] ?? "null") as Crash.Options

Effect.runPromise(
  Crash.run(options).pipe(
    Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)),
    Logger.withMinimumLogLevel(LogLevel.None)
  )
).then(
  (rows) => {
    process.stdout.write(`${Child.encode(rows)}\n`)
    process.exit(0)
  },
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`)
    process.exit(1)
  }
)
