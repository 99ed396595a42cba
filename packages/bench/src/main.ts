/**
 * `pnpm bench`: runs every measure, prints the table, writes `docs/benchmarks.md` and
 * `docs/benchmarks.svg`. `--quick` runs small counts (a try-out, not for the docs: it writes
 * `benchmarks-quick.md` beside this package's build output instead).
 *
 * @since 0.1.0
 */
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import * as Bench from "./Bench.js"
import * as Goals from "./Goals.js"
import * as Peers from "./Peers.js"
import * as Pool from "./Pool.js"
import { machine, svgChart, textTable } from "./Report.js"

const quick = process.argv.includes("--quick")
const config = quick ? Bench.quick : Bench.full
const docs = fileURLToPath(new URL(quick ? "../build/" : "../../../docs/", import.meta.url))
const chartName = quick ? "benchmarks-quick.svg" : "benchmarks.svg"
const docName = quick ? "benchmarks-quick.md" : "benchmarks.md"

/**
 * Node's process warnings, once per kind, with where they came from (the first stack frame in a package).
 * The raw SDK's transports trigger MaxListenersExceededWarning with 1,000 calls in flight; printing each
 * one would bury the table.
 */
const warnings = new Map<string, { count: number; origin: string }>()
process.removeAllListeners("warning")
process.on("warning", (warning) => {
  const kind = `${warning.name}: ${warning.message.replace(/\d+/g, "N")}`
  const known = warnings.get(kind)
  if (known !== undefined) {
    known.count++
    return
  }
  const frame = (warning.stack ?? "").split("\n").find((line) => /node_modules\/|packages\//.test(line) && !line.includes("/tsx/"))
  const origin = frame?.replace(/^.*?(node_modules\/\.pnpm\/[^/]+\/node_modules\/|\/work\/[^ ]*?packages\/)/, "").replace(/\)$/, "").trim() ?? "unknown"
  warnings.set(kind, { count: 1, origin })
  console.error(`[bench] warning (shown once): ${kind} at ${origin}`)
})

const program = Effect.gen(function*() {
  const host = machine()
  const start = performance.now()
  const rows = yield* Bench.run(config, (message) => console.error(`[bench] ${message}`))
  rows.push(...(yield* Pool.run(quick ? Pool.quick : Pool.full)))
  const peers = yield* Peers.run(quick ? Peers.quick : Peers.full, (message) => console.error(`[bench] ${message}`))
  const seconds = (performance.now() - start) / 1000
  console.log(textTable(rows))
  for (const row of rows) if (row.note !== undefined) console.log(`  · ${row.measure} (${row.transport}): ${row.note}`)
  console.log(`\nthe 10 ms goal (a killed server, from the OS's notice): ${Goals.summary(Goals.kills(rows))}`)
  console.log(`\nagainst the raw SDK and Effect 4's McpClient (each in its own process):\n${Peers.table(peers)}`)
  fs.mkdirSync(docs, { recursive: true })
  fs.writeFileSync(`${docs}${chartName}`, svgChart(rows, `@effect-mcp/session vs raw MCP SDK (${host.node}, ${host.cores} cores)`))
  const warned = [...warnings].map(([kind, { count, origin }]) => `${kind} (${count}×, from ${origin})`)
  fs.writeFileSync(
    `${docs}${docName}`,
    Bench.document({ rows, config, machine: host, seconds, chart: chartName, warnings: warned, peers })
  )
  console.error(`[bench] wrote ${docs}${docName} and ${chartName} in ${seconds.toFixed(0)} s`)
})

Effect.runPromise(
  program.pipe(
    Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)),
    Logger.withMinimumLogLevel(LogLevel.None)
  )
).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
