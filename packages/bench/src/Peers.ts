/**
 * Measure 5: the three-way comparison of issue 21. The `echo` tool over stdio and Streamable HTTP, called
 * by the raw SDK `Client`, this library's plain and resilient sessions, and Effect 4's `effect/ai`
 * McpClient (in an install of its own, `packages/bench-effect4`), each client in a process of its own
 * (`peerChild.ts`, `bench-effect4/peer.mjs`), the clients taking turns round by round against the same kind
 * of server (server-everything, 2025-11-25: each stdio client spawns its own; the HTTP clients share one).
 *
 * - sequential: a sample is one call's latency (µs);
 * - in flight: `inFlight` calls started at once; a sample is the whole batch (ms).
 *
 * The goals (issue 21), judged on the medians: this library at or below the raw SDK (≤ 1.0×) on every row,
 * and ahead of Effect 4's McpClient (< 1.0×) on every row, plain and resilient.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { serverEverything, startEverything } from "./Servers.js"

/**
 * @since 0.1.0
 * @category models
 */
export const clients = ["raw", "library", "resilient", "effect4"] as const

/**
 * @since 0.1.0
 * @category models
 */
export type PeerClient = typeof clients[number]

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly transports: ReadonlyArray<"stdio" | "streamable-http">
  /** Turns each client takes, interleaved; each turn is a fresh process. */
  readonly rounds: number
  /** Sequential calls per turn. */
  readonly calls: number
  readonly inFlight: number
  /** Batches of `inFlight` per turn. */
  readonly batches: number
  /**
   * Untimed calls before the timed ones, in each turn: enough for every client's code to be compiled (with
   * 500, this library's calls over stdio were still 2.6× slower than after 3,000).
   */
  readonly warmup: Readonly<Record<"stdio" | "streamable-http", number>>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface PeerRow {
  readonly measure: string
  readonly transport: "stdio" | "streamable-http"
  readonly unit: "µs" | "ms"
  readonly medians: Readonly<Record<PeerClient, number>>
  readonly samples: number
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const full: Options = { transports: ["stdio", "streamable-http"], rounds: 5, calls: 300, inFlight: 500, batches: 3, warmup: { stdio: 3000, "streamable-http": 1000 } }

/**
 * @since 0.1.0
 * @category constructors
 */
export const quick: Options = { transports: ["stdio", "streamable-http"], rounds: 1, calls: 30, inFlight: 50, batches: 1, warmup: { stdio: 10, "streamable-http": 10 } }

const benchDir = fileURLToPath(new URL("..", import.meta.url))
const peerChild = fileURLToPath(new URL("./peerChild.ts", import.meta.url))
const effect4Peer = fileURLToPath(new URL("../../bench-effect4/peer.mjs", import.meta.url))

interface Samples {
  readonly sequential: ReadonlyArray<number>
  readonly batches: ReadonlyArray<number>
}

/** One turn of one client, in a process of its own, bounded. */
const turn = (client: PeerClient, kind: "stdio" | "streamable-http", url: string | undefined, options: Options) =>
  Effect.async<Samples, Error>((resume) => {
    const target = kind === "stdio" ? [process.execPath, serverEverything, "stdio"] : [url!]
    const args = client === "effect4"
      ? [effect4Peer, kind, ...target]
      : ["--import", "tsx", peerChild, client, kind, ...(kind === "stdio" ? [] : [url!])]
    const child = spawn(process.execPath, args, {
      cwd: benchDir,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        BENCH_CALLS: String(options.calls),
        BENCH_IN_FLIGHT: String(options.inFlight),
        BENCH_ROUNDS: String(options.batches),
        BENCH_WARMUP: String(options.warmup[kind])
      }
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (chunk: Buffer) => void (stdout += chunk.toString()))
    child.stderr!.on("data", (chunk: Buffer) => void (stderr += chunk.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000)
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      const line = stdout.split("\n").find((l) => l.startsWith("RESULT "))
      if (code === 0 && line !== undefined) resume(Effect.succeed(JSON.parse(line.slice(7)) as Samples))
      else resume(Effect.fail(new Error(`${client} over ${kind} failed (${code ?? signal}): ${stderr.slice(-2000)}`)))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    })
  })

const median = (samples: ReadonlyArray<number>): number => {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor((sorted.length - 1) / 2)]!
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const run = (
  options: Options,
  log: (message: string) => void = () => {}
): Effect.Effect<Array<PeerRow>, Error> =>
  Effect.gen(function*() {
    const rows: Array<PeerRow> = []
    for (const kind of options.transports) {
      const url = kind === "streamable-http" ? (yield* startEverything("streamableHttp")).url : undefined
      const sequential: Record<PeerClient, Array<number>> = { raw: [], library: [], resilient: [], effect4: [] }
      const batches: Record<PeerClient, Array<number>> = { raw: [], library: [], resilient: [], effect4: [] }
      for (let round = 0; round < options.rounds; round++) {
        // the order turns each round, so that no client always runs on a machine warmed by the same one
        const order = clients.map((_, i) => clients[(i + round) % clients.length]!)
        for (const client of order) {
          log(`peers: ${kind}, round ${round + 1}/${options.rounds}, ${client}`)
          const samples = yield* turn(client, kind, url, options)
          sequential[client].push(...samples.sequential)
          batches[client].push(...samples.batches)
        }
      }
      const medians = (of: Record<PeerClient, Array<number>>) =>
        Object.fromEntries(clients.map((client) => [client, median(of[client])])) as Record<PeerClient, number>
      rows.push(
        { measure: "echo, sequential (per call)", transport: kind, unit: "µs", medians: medians(sequential), samples: sequential.raw.length },
        {
          measure: `echo, ${options.inFlight.toLocaleString("en-US")} in flight (whole batch)`,
          transport: kind,
          unit: "ms",
          medians: medians(batches),
          samples: batches.raw.length
        }
      )
    }
    return rows
  }).pipe(Effect.scoped)

const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`

/**
 * Whether a row meets issue 21's goals: each of this library's sessions at or below the raw SDK, and below
 * Effect 4's McpClient.
 *
 * @since 0.1.0
 * @category models
 */
export const verdict = (row: PeerRow): string => {
  const misses = (["library", "resilient"] as const).flatMap((side) => [
    ...(row.medians[side] > row.medians.raw ? [`${side} ${ratio(row.medians[side], row.medians.raw)} the raw SDK`] : []),
    ...(row.medians[side] >= row.medians.effect4 ? [`${side} ${ratio(row.medians[side], row.medians.effect4)} Effect 4`] : [])
  ])
  return misses.length === 0 ? "met" : `missed: ${misses.join(", ")}`
}

/**
 * The rows as a Markdown table: medians, ratios to the raw SDK and to Effect 4, and each row's verdict.
 *
 * @since 0.1.0
 * @category constructors
 */
export const table = (rows: ReadonlyArray<PeerRow>): string => {
  const f = (n: number, unit: string) => `${n >= 100 ? n.toFixed(0) : n.toFixed(1)} ${unit}`
  const lines = [
    "| measure | transport | raw SDK | library | resilient | Effect 4 | library / raw | resilient / raw | library / Effect 4 | resilient / Effect 4 | goal | n |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  ]
  for (const row of rows) {
    const m = row.medians
    lines.push(
      `| ${row.measure} | ${row.transport} | ${f(m.raw, row.unit)} | ${f(m.library, row.unit)} | ${f(m.resilient, row.unit)} | ${f(m.effect4, row.unit)} | ${ratio(m.library, m.raw)} | ${
        ratio(m.resilient, m.raw)
      } | ${ratio(m.library, m.effect4)} | ${ratio(m.resilient, m.effect4)} | ${verdict(row)} | ${row.samples} |`
    )
  }
  return lines.join("\n")
}
