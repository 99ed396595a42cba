/**
 * The entry point of a memory sample in its own process: `node --expose-gc --import tsx memoryChild.ts
 * '<Spec as JSON>'` prints `RESULT <json>`.
 *
 * @since 0.1.0
 */
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Child from "./Child.js"
import * as Memory from "./Memory.js"

const spec = JSON.parse(process.argv[2] ?? "null") as Memory.Spec

Effect.runPromise(
  Memory.runSpec(spec).pipe(
    Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)),
    Logger.withMinimumLogLevel(LogLevel.None)
  )
).then(
  (result) => {
    process.stdout.write(`${Child.encode(result)}\n`)
    process.exit(0)
  },
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`)
    process.exit(1)
  }
)
