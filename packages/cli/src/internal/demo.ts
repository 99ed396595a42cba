import type * as HttpClient from "@effect/platform/HttpClient"
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import { McpError, McpSession, McpSessionPolicy } from "@effect-mcp/session"
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as EverythingServer from "../EverythingServer.js"
import { Output } from "../Output.js"
import { isAlive } from "./everything.js"
import * as render from "./render.js"

/** @internal */
export class DemoFailed extends Data.TaggedError("DemoFailed")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

const clientInfo = { name: "mcp-session-demo", version: "0.1.0" }

/** Rebuild quickly for the demo: from 50 ms, doubling, each delay capped at 400 ms, for up to ~15 s. */
const reconnect = Schedule.exponential("50 millis", 2).pipe(
  Schedule.union(Schedule.spaced("400 millis")),
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(40))
)

const long = { name: "trigger-long-running-operation", arguments: { duration: 6, steps: 20 } }
const killAtStep = 3

const textOf = (result: CallToolResult): string =>
  result.content.map((c) => (c.type === "text" ? c.text : `[${c.type}]`)).join(" ")

/** @internal */
export const run = (options: { readonly port: number | undefined }): Effect.Effect<
  void,
  DemoFailed | EverythingServer.ServerFailed | McpError.McpError,
  Scope.Scope | HttpClient.HttpClient | Output
> =>
  Effect.gen(function*() {
    const output = yield* Output
    const p = render.paint(output.color)
    const nowMs = Effect.map(Clock.currentTimeNanos, (n) => Number(n) / 1e6)
    const t0 = yield* nowMs
    const stamp = (t: number) => p.dim(`+${((t - t0) / 1000).toFixed(2).padStart(5)}s`)
    const line = (icon: string, text: string) =>
      Effect.map(nowMs, (t) => output.stdout(`  ${stamp(t)}  ${icon} ${text}`))
    const note = (text: string) => output.stdout(`  ${" ".repeat(7)}    ${p.dim(output.isTTY ? render.truncate(text, output.columns - 13) : text)}`)

    output.stdout("")
    output.stdout(`  ${p.bold("mcp-session demo")} ${p.dim("· a resilient MCP session, a server killed mid-call, and the recovery")}`)
    output.stdout("")

    // -- the server ------------------------------------------------------------------------------------
    const scope = yield* Effect.scope
    const port = options.port ?? (yield* EverythingServer.freePort)
    const firstScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const startedAt = yield* nowMs
    const first = yield* EverythingServer.start({ port }).pipe(Scope.extend(firstScope))
    yield* line(
      p.cyan("▶"),
      `started server-everything ${p.dim(`· pid ${first.pid} · ${first.url} · ready in ${render.millis((yield* nowMs) - startedAt)}`)}`
    )

    // -- the session -----------------------------------------------------------------------------------
    // its own scope, closed before the server's at the end, so that the session says goodbye first
    const sessionScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const connectAt = yield* nowMs
    const { lifecycle, session } = yield* McpSession.makeResilient(
      {
        transport: NodeMcpTransport.streamableHttp({ url: first.url }),
        clientInfo,
        requestTimeout: "15 seconds"
      },
      McpSessionPolicy.make({ reconnect, replay: "NotDelivered", maxWait: "20 seconds", keepAlive: false })
    ).pipe(Scope.extend(sessionScope))
    yield* line(
      p.green("●"),
      `connected over Streamable HTTP ${p.dim(`· ${session.serverInfo.name} ${session.serverInfo.version} · generation 1 · ${render.millis((yield* nowMs) - connectAt)}`)}`
    )

    // Lifecycle events, printed as they happen: after the crash line, so the story reads in order.
    const crashShown = yield* Deferred.make<void>()
    const rebuilt = yield* Deferred.make<{ readonly millis: number; readonly failedAttempts: number }>()
    const events = yield* Stream.toPull(lifecycle.events).pipe(Scope.extend(sessionScope))
    let failedAttempts = 0
    yield* events.pipe(
      Effect.flatMap(Effect.forEach((event) =>
        Effect.gen(function*() {
          yield* Deferred.await(crashShown)
          switch (event._tag) {
            case "Crashed":
              return yield* line(
                p.yellow("↻"),
                `the session saw generation ${event.generation} die ${p.dim("· rebuilding it: exponential backoff from 50 ms")}`
              )
            case "Rebuilding": {
              failedAttempts = event.attempt
              const why = event.error._tag === "TransportCrashed" ? event.error.reason.description : event.error.message
              if (event.attempt === 1) return yield* line(p.yellow("↻"), `rebuild attempt 1 failed ${p.dim(`· ${why}`)}`)
              return output.transient(`  ${p.yellow("↻")} rebuild attempt ${event.attempt} failed ${p.dim(`· ${why}`)}`)
            }
            case "Rebuilt":
              yield* line(
                p.green("●"),
                `session rebuilt ${p.dim(`· generation ${event.generation} · ${render.millis(event.millis)} after the crash · ${failedAttempts} failed attempt(s) while the server was down`)}`
              )
              return yield* Deferred.succeed(rebuilt, { millis: event.millis, failedAttempts })
            default:
              return
          }
        })
      )),
      Effect.forever,
      Effect.ignore,
      Effect.forkIn(sessionScope)
    )

    // -- a few calls -----------------------------------------------------------------------------------
    const timed = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.gen(function*() {
        const before = yield* nowMs
        const value = yield* effect
        return [value, (yield* nowMs) - before] as const
      })

    const [tools, listMs] = yield* timed(session.listTools())
    const names = tools.map((t) => t.name)
    for (const needed of ["echo", "get-sum", long.name]) {
      if (!names.includes(needed)) return yield* new DemoFailed({ detail: `server-everything has no ${needed} tool` })
    }
    yield* line(p.green("✓"), `tools/list → ${tools.length} tools ${p.dim(`· ${names.slice(0, 3).join(", ")}, … · ${render.millis(listMs)}`)}`)
    const [echo, echoMs] = yield* timed(session.callTool({ name: "echo", arguments: { message: "hello" } }))
    yield* line(p.green("✓"), `echo {"message":"hello"} → ${JSON.stringify(textOf(echo))} ${p.dim(`· ${render.millis(echoMs)}`)}`)
    const [sum, sumMs] = yield* timed(session.callTool({ name: "get-sum", arguments: { a: 19, b: 23 } }))
    yield* line(p.green("✓"), `get-sum {"a":19,"b":23} → ${JSON.stringify(textOf(sum))} ${p.dim(`· ${render.millis(sumMs)}`)}`)

    // -- the kill --------------------------------------------------------------------------------------
    const reachedStep = yield* Deferred.make<void>()
    let step = 0
    yield* line(p.cyan("…"), `${long.name} ${JSON.stringify(long.arguments)} ${p.dim("· a 6 s tool with 20 progress steps")}`)
    const call = yield* session.callTool(long, {
      onProgress: (progress) => {
        step = progress.progress
        if (output.isTTY) {
          const fraction = progress.total !== undefined ? progress.progress / progress.total : 0
          const filled = Math.round(fraction * 20)
          output.transient(`  ${" ".repeat(7)}    ${p.cyan("█".repeat(filled))}${p.dim("░".repeat(20 - filled))} ${progress.progress}/${progress.total ?? "?"}`)
        } else {
          note(`progress ${progress.progress}/${progress.total ?? "?"}`)
        }
        if (progress.progress >= killAtStep) Deferred.unsafeDone(reachedStep, Exit.void)
      }
    }).pipe(
      Effect.exit,
      Effect.flatMap((exit) => Effect.map(nowMs, (at) => [exit, at] as const)),
      Effect.fork
    )
    yield* Deferred.await(reachedStep).pipe(
      Effect.timeoutFail({ duration: "15 seconds", onTimeout: () => new DemoFailed({ detail: `no progress step ${killAtStep} within 15 s` }) })
    )
    const killedAt = yield* nowMs
    yield* first.kill("SIGKILL")
    yield* line(p.red("☠"), `kill -9 ${first.pid} ${p.dim(`· server-everything killed while step ${step}/20 was running`)}`)
    const [exit, failedAt] = yield* Fiber.join(call).pipe(
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new DemoFailed({ detail: "the pending call never settled" }) })
    )
    if (Exit.isSuccess(exit)) return yield* new DemoFailed({ detail: "the call succeeded although its server was killed" })
    const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
    if (!McpError.isTransportCrashed(error)) {
      return yield* new DemoFailed({ detail: `expected TransportCrashed, got ${String(error ?? exit.cause)}` })
    }
    const detection = failedAt - killedAt
    yield* line(
      p.red("✗"),
      `call failed: ${p.bold("TransportCrashed")} · reason ${p.bold(error.reason._tag)} · detected ${render.millis(detection)} after the kill`
    )
    note(error.reason.description)
    note(`delivery ${error.delivery ?? "unknown"}: not replayed, since it may have run (replay rule NotDelivered)`)
    yield* Scope.close(firstScope, Exit.void)
    yield* Deferred.succeed(crashShown, undefined)

    // -- the restart -----------------------------------------------------------------------------------
    yield* Effect.sleep("300 millis")
    const restartAt = yield* nowMs
    const second = yield* EverythingServer.start({ port })
    yield* line(
      p.cyan("▶"),
      `restarted server-everything on the same port ${p.dim(`· pid ${second.pid} · ready in ${render.millis((yield* nowMs) - restartAt)}`)}`
    )

    // the next call waits for the rebuilt session (bounded by the policy's maxWait) and succeeds on it
    const [back, backMs] = yield* timed(session.callTool({ name: "echo", arguments: { message: "I'm back" } }))
    const recovered = yield* Deferred.await(rebuilt).pipe(
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new DemoFailed({ detail: "no Rebuilt event" }) })
    )
    const state = yield* lifecycle.state
    const generation = state._tag === "GaveUp" ? "none" : String(state.generation)
    yield* line(
      p.green("✓"),
      `echo {"message":"I'm back"} → ${JSON.stringify(textOf(back))} ${p.dim(`· on generation ${generation} · ${render.millis(backMs)}, waiting for the rebuild included`)}`
    )

    // -- the end ---------------------------------------------------------------------------------------
    yield* Scope.close(sessionScope, Exit.void)
    yield* second.kill("SIGTERM")
    const left = [first, second].filter((s) => isAlive(s.pid))
    if (left.length > 0) return yield* new DemoFailed({ detail: `server process(es) still running: ${left.map((s) => s.pid).join(", ")}` })
    yield* line(p.cyan("■"), `stopped the session and server-everything ${p.dim(`(pids ${first.pid}, ${second.pid}) · nothing left running`)}`)

    const total = (yield* nowMs) - t0
    output.stdout("")
    output.stdout(`  ${p.bold("crash detected")}  ${render.millis(detection)} after kill -9, as a typed TransportCrashed (${error.reason._tag})`)
    output.stdout(
      `  ${p.bold("session rebuilt")} ${render.millis(recovered.millis)} after the crash, by itself (${recovered.failedAttempts} attempt(s) refused while the server was down)`
    )
    output.stdout(`  ${p.bold("next call")}       succeeded on generation ${generation}, with no reconnect code in the caller`)
    output.stdout(`  ${p.dim(`${(total / 1000).toFixed(1)} s in all`)}`)
    output.stdout("")
  }).pipe(
    Effect.onInterrupt(() =>
      Effect.flatMap(Output, (output) => Effect.sync(() => output.stderr("  interrupted: stopping the session and the server")))
    )
  )
