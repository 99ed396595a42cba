import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Overhead from "./src/Overhead.js"
import { textTable } from "./src/Report.js"
const kinds = (process.argv[2] ?? "in-memory,stdio,streamable-http").split(",") as any
Effect.runPromise(Overhead.run({ transports: kinds, rounds: 3, calls: { "in-memory": 1000, stdio: 500, "streamable-http": 200 }, inFlight: 1000, inFlightRounds: 5 }).pipe(
  Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)), Logger.withMinimumLogLevel(LogLevel.None)
)).then((rows) => { console.log(textTable(rows)); process.exit(0) }, (e) => { console.error(e); process.exit(1) })
