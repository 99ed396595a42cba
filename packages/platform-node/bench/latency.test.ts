/**
 * Fault detection latency: this package's transports next to the SDK's own, on loopback.
 *
 * For each fault: the time from the fault (the scripted server's action, or the SIGKILL) to the moment the
 * pending call fails, median and max over a few runs. The SDK is given a 3 s request timeout here, so a
 * "hang" shows as ≥ 3000 ms (its default is 60 s).
 *
 * Run: pnpm --filter @effect-mcp/platform-node bench (BENCH_RUNS=n runs per fault, default 5; BENCH_ONLY=text
 * keeps the faults whose name contains it).
 */
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import { McpSession, type McpTransport } from "@effect-mcp/session"
import type { CommandExecutor } from "@effect/platform/CommandExecutor"
import type { HttpClient } from "@effect/platform/HttpClient"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { it } from "@effect/vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { scriptedServer } from "../test/fixtures/scriptedServer.js"
import { childPids, clientInfo, serverEverything, startEverything } from "../test/utils.js"

const runs = Number(process.env.BENCH_RUNS ?? 5)
const sdkTimeout = 3000
const Env = Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)

interface Sample {
  readonly millis: number
  readonly outcome: string
}

/** Ours: a session over `transport`; `fault` triggers the fault once the call is underway and says when. */
const ours = (
  // any of our transports: their requirements are all in `Env`
  transport: McpTransport.McpTransport<CommandExecutor | HttpClient>,
  tool: { name: string; arguments?: Record<string, unknown> },
  fault: (session: McpSession.McpSession.Service) => Effect.Effect<number>
) =>
  Effect.scoped(Effect.gen(function*() {
    const session = yield* McpSession.make({ transport, clientInfo, requestTimeout: "20 seconds" })
    let underway!: () => void
    const started = new Promise<void>((resolve) => (underway = resolve))
    const call = yield* session.callTool(tool, { onProgress: () => underway() }).pipe(Effect.exit, Effect.fork)
    const faultAt = yield* fault(session).pipe(Effect.zipLeft(Effect.sync(() => underway())), (self) =>
      tool.name === "trigger-long-running-operation"
        ? Effect.zipRight(Effect.promise(() => started), self)
        : self)
    const exit = yield* call
    const done = performance.now()
    const outcome = Exit.isSuccess(exit)
      ? "succeeded"
      : Option.match(Cause.failureOption(exit.cause), {
        onNone: () => "defect",
        onSome: (e) => e._tag === "TransportCrashed" ? `TransportCrashed(${e.reason._tag})` : e._tag
      })
    return { millis: done - faultAt, outcome } satisfies Sample
  })).pipe(Effect.provide(Env), Effect.runPromise)

/** The SDK alone: its Client over its own transport. */
const raw = async (
  transport: Transport,
  tool: { name: string; arguments?: Record<string, unknown> },
  fault: () => Promise<number>
): Promise<Sample> => {
  const client = new Client(clientInfo)
  await client.connect(transport)
  let underway!: () => void
  const started = new Promise<void>((resolve) => (underway = resolve))
  const call = client.callTool(tool, undefined, { timeout: sdkTimeout, onprogress: () => underway() }).then(
    () => "succeeded",
    (e: unknown) => `${(e as Error).constructor.name}: ${String((e as Error).message).slice(0, 60)}`
  )
  if (tool.name === "trigger-long-running-operation") await started
  const faultAt = await fault()
  const outcome = await call
  const millis = performance.now() - faultAt
  await client.close().catch(() => {})
  return { millis, outcome }
}

const summary = (samples: ReadonlyArray<Sample>) => {
  const sorted = samples.map((s) => s.millis).sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)]!
  const max = sorted[sorted.length - 1]!
  const outcomes = [...new Set(samples.map((s) => s.outcome))].join(" / ")
  return `${median.toFixed(1)} ms (max ${max.toFixed(1)}) ${outcomes}`
}

const rows: Array<[string, string, string]> = []

const measure = async (name: string, sdk: () => Promise<Sample>, effect: () => Promise<Sample>) => {
  if (process.env.BENCH_ONLY !== undefined && !name.includes(process.env.BENCH_ONLY)) return
  const sdkSamples: Array<Sample> = []
  const ourSamples: Array<Sample> = []
  for (let i = 0; i < runs; i++) {
    sdkSamples.push(await sdk())
    ourSamples.push(await effect())
  }
  rows.push([name, summary(sdkSamples), summary(ourSamples)])
  const all = (samples: ReadonlyArray<Sample>) => samples.map((s) => s.millis.toFixed(1)).join(", ")
  console.error(`${name}\n  sdk:  ${summary(sdkSamples)} [${all(sdkSamples)}]\n  ours: ${summary(ourSamples)} [${all(ourSamples)}]`)
}

/** A scripted server for one measurement. */
const withScripted = <A>(f: (server: Effect.Effect.Success<typeof scriptedServer>) => Promise<A>) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(scriptedServer, (server) => Effect.promise(() => f(server)))))

const scripted = (name: string, tool: string) =>
  measure(
    name,
    () => withScripted((server) => raw(new StreamableHTTPClientTransport(new URL(server.url)), { name: tool }, async () => {
      // the fault happens on the server while the call is pending: wait until it did
      while (server.lastFault() === 0) await new Promise((r) => setTimeout(r, 1))
      return server.lastFault()
    })),
    () => withScripted((server) =>
      ours(NodeMcpTransport.streamableHttp({ url: server.url }), { name: tool }, () =>
        Effect.promise(async () => {
          while (server.lastFault() === 0) await new Promise((r) => setTimeout(r, 1))
          return server.lastFault()
        })))
  )

const everything = (mode: "streamableHttp" | "sse") =>
  measure(
    `${mode === "sse" ? "legacy SSE" : "Streamable HTTP"}: server-everything SIGKILLed mid-call`,
    () =>
      Effect.runPromise(Effect.scoped(Effect.flatMap(startEverything(mode), (server) =>
        Effect.promise(() =>
          raw(
            mode === "sse" ? new SSEClientTransport(new URL(server.url)) : new StreamableHTTPClientTransport(new URL(server.url)),
            { name: "trigger-long-running-operation", arguments: { duration: 20, steps: 200 } },
            async () => {
              const at = performance.now()
              process.kill(server.pid, "SIGKILL")
              return at
            }
          )
        )))),
    () =>
      Effect.runPromise(Effect.scoped(Effect.flatMap(startEverything(mode), (server) =>
        Effect.promise(() =>
          ours(
            mode === "sse" ? NodeMcpTransport.sse({ url: server.url }) : NodeMcpTransport.streamableHttp({ url: server.url }),
            { name: "trigger-long-running-operation", arguments: { duration: 20, steps: 200 } },
            () =>
              Effect.sync(() => {
                const at = performance.now()
                process.kill(server.pid, "SIGKILL")
                return at
              })
          )
        ))))
  )

const killStdio = () => {
  const [pid] = childPids(serverEverything)
  const at = performance.now()
  process.kill(pid!, "SIGKILL")
  return at
}

const main = async () => {
  await scripted("Streamable HTTP: POST answered 403", "forbidden")
  await scripted("Streamable HTTP: POST answered 500", "error500")
  await scripted("Streamable HTTP: connection reset while the POST is open", "reset")
  await scripted("Streamable HTTP: SSE answer cut before the answer", "sse-cut")
  await scripted("Streamable HTTP: SSE answer ended before the answer", "sse-end")
  await scripted("Streamable HTTP: resumable SSE answer cut, server gone", "resumable-cut-refused")
  await scripted("Streamable HTTP: stale session (404)", "stale404")
  await scripted("Streamable HTTP: stale session (400 \"No valid session ID\")", "stale400")
  await everything("streamableHttp")
  await everything("sse")
  await measure(
    "stdio: server-everything SIGKILLed mid-call",
    () =>
      raw(
        new StdioClientTransport({ command: process.execPath, args: [serverEverything, "stdio"], stderr: "ignore" }),
        { name: "trigger-long-running-operation", arguments: { duration: 20, steps: 200 } },
        async () => killStdio()
      ),
    () =>
      ours(
        NodeMcpTransport.stdio({ command: process.execPath, args: [serverEverything, "stdio"] }),
        { name: "trigger-long-running-operation", arguments: { duration: 20, steps: 200 } },
        () => Effect.sync(killStdio)
      )
  )
  await measure(
    "stdio: missing command (time to fail the connect)",
    async () => {
      const at = performance.now()
      const client = new Client(clientInfo)
      const outcome = await client.connect(new StdioClientTransport({ command: "effect-mcp-no-such-command" })).then(
        () => "connected?",
        (e: unknown) => `${(e as Error).constructor.name}: ${(e as Error).message}`
      )
      return { millis: performance.now() - at, outcome }
    },
    async () => {
      const at = performance.now()
      const exit = await Effect.runPromiseExit(
        Effect.scoped(McpSession.make({ transport: NodeMcpTransport.stdio({ command: "effect-mcp-no-such-command" }), clientInfo }))
          .pipe(Effect.provide(Env))
      )
      const outcome = Exit.isFailure(exit)
        ? Option.match(Cause.failureOption(exit.cause), {
          onNone: () => "defect",
          onSome: (e) => e._tag === "TransportCrashed" ? `TransportCrashed(${e.reason._tag})` : e._tag
        })
        : "connected?"
      return { millis: performance.now() - at, outcome }
    }
  )

  console.log(`| fault | raw SDK 1.32.2 | @effect-mcp/platform-node |`)
  console.log(`| --- | --- | --- |`)
  for (const [name, sdk, mine] of rows) console.log(`| ${name} | ${sdk} | ${mine} |`)
}

it("fault detection latency", main, 600_000)
