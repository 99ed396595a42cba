// Effect 4's McpClient, timed the way packages/bench/src/peerChild.ts times the other clients: `node peer.mjs
// <stdio|streamable-http> <url | command args...>` with BENCH_CALLS, BENCH_IN_FLIGHT, BENCH_ROUNDS, BENCH_WARMUP in the
// environment; prints `RESULT { sequential: [µs per call], batches: [ms per batch] }`. Effect 4's client
// does not negotiate: the version is the one its protocol adapter speaks (BENCH_PROTOCOL, 2025-11-25 by default).
import { Effect, Layer } from "effect"
import { McpClient, McpProtocol } from "effect/ai"
import { FetchHttpClient } from "effect/http"
import { ChildProcess } from "effect/process"

const [kind, target, ...args] = process.argv.slice(2)
const calls = Number(process.env.BENCH_CALLS ?? 200)
const inFlight = Number(process.env.BENCH_IN_FLIGHT ?? 1000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
// calls before the timed ones, so that every client is measured with its code compiled
const warmup = Number(process.env.BENCH_WARMUP ?? 500)
const protocol = process.env.BENCH_PROTOCOL === "2026-07-28" ? McpProtocol.v2026_07_28 : McpProtocol.v2025_11_25

const program = Effect.gen(function*() {
  const client = yield* McpClient.McpClient
  const tools = yield* client.listTools()
  const echo = tools.find((tool) => tool.name === "echo")
  const call = client.callTool({ tool: echo, arguments: { message: "hello" } })
  for (let i = 0; i < warmup; i++) yield* call
  const sequential = []
  for (let i = 0; i < calls; i++) {
    const start = performance.now()
    yield* call
    sequential.push((performance.now() - start) * 1000)
  }
  const batches = []
  for (let round = 0; round < rounds + 1; round++) {
    const start = performance.now()
    yield* Effect.forEach(Array.from({ length: inFlight }), () => call, { concurrency: "unbounded", discard: true })
    if (round > 0) batches.push(performance.now() - start)
  }
  return { sequential, batches }
})

const layer = kind === "stdio"
  ? McpClient.layerStdio({ name: "effect4-peer", version: "1.0.0", protocol, command: ChildProcess.make(target, args) }).pipe(
    Layer.provide((await import("@effect/platform-node")).NodeServices.layer)
  )
  : McpClient.layerHttp({ name: "effect4-peer", version: "1.0.0", protocol, url: target }).pipe(Layer.provide(FetchHttpClient.layer))

Effect.runPromise(program.pipe(Effect.provide(layer), Effect.scoped)).then(
  (result) => {
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
    process.exit(0)
  },
  (error) => {
    console.error("effect4 peer failed:", error?.message ?? error)
    process.exit(1)
  }
)
