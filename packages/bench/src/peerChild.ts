/**
 * One client of the three-way comparison, in a process of its own (`Peers.ts` starts it): this library's
 * session, plain or resilient, or the raw SDK `Client`, timed as `bench-effect4/peer.mjs` times Effect 4's
 * McpClient. `node --import tsx peerChild.ts <library|resilient|raw> <stdio|streamable-http> [url]`, counts
 * in BENCH_CALLS, BENCH_IN_FLIGHT, BENCH_ROUNDS, BENCH_WARMUP; prints `RESULT { sequential, batches }` (as `Child.ts` reads it).
 *
 * @since 0.1.0
 */
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { McpSession, McpSessionPolicy } from "@effect-mcp/session"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { clientInfo, closeRaw, connectRaw, echo, libraryTransport, rawEcho } from "./Clients.js"

const [side, kind, url] = process.argv.slice(2) as ["library" | "resilient" | "raw", "stdio" | "streamable-http", string | undefined]
const calls = Number(process.env.BENCH_CALLS ?? 200)
const inFlight = Number(process.env.BENCH_IN_FLIGHT ?? 1000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
// calls before the timed ones, so that every client is measured with its code compiled
const warmup = Number(process.env.BENCH_WARMUP ?? 500)

/** The raw SDK's loop: warm-up, then `calls` timed one at a time (µs), then `rounds` batches of `inFlight` at once (ms). */
const time = async (call: () => Promise<unknown>) => {
  for (let i = 0; i < warmup; i++) await call()
  const sequential: Array<number> = []
  for (let i = 0; i < calls; i++) {
    const start = performance.now()
    await call()
    sequential.push((performance.now() - start) * 1000)
  }
  const batches: Array<number> = []
  for (let round = 0; round < rounds + 1; round++) {
    const start = performance.now()
    await Promise.all(Array.from({ length: inFlight }, call))
    if (round > 0) batches.push(performance.now() - start)
  }
  return { sequential, batches }
}

const library = Effect.gen(function*() {
  const options = { transport: libraryTransport(kind, url), clientInfo, requestTimeout: 60_000 }
  const session = side === "resilient"
    ? (yield* McpSession.makeResilient(options, McpSessionPolicy.make({ keepAlive: false }))).session
    : yield* McpSession.make(options)
  // timed in Effect, as an Effect application calls it (and as bench-effect4/peer.mjs times Effect 4)
  const call = session.callTool(echo)
  for (let i = 0; i < warmup; i++) yield* call
  const sequential: Array<number> = []
  for (let i = 0; i < calls; i++) {
    const start = performance.now()
    yield* call
    sequential.push((performance.now() - start) * 1000)
  }
  const batches: Array<number> = []
  const batch = Array.from({ length: inFlight })
  for (let round = 0; round < rounds + 1; round++) {
    const start = performance.now()
    yield* Effect.forEach(batch, () => call, { concurrency: "unbounded", discard: true })
    if (round > 0) batches.push(performance.now() - start)
  }
  return { sequential, batches }
}).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)), Logger.withMinimumLogLevel(LogLevel.None))

const raw = Effect.promise(async () => {
  const { client } = await connectRaw(kind, url)
  try {
    return await time(() => rawEcho(client))
  } finally {
    await Effect.runPromise(closeRaw(client))
  }
})

Effect.runPromise(side === "raw" ? raw : library).then(
  (result) => {
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
    process.exit(0)
  },
  (error: unknown) => {
    console.error(`${side} peer failed:`, error)
    process.exit(1)
  }
)
