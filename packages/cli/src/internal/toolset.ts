import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Path from "@effect/platform/Path"
import { NodeMcpServers } from "@effect-mcp/platform-node"
import type { McpError, McpSessionPolicy } from "@effect-mcp/session"
import { McpServers, McpSessionPool, McpToolset } from "@effect-mcp/session"
import type { Tool } from "@modelcontextprotocol/sdk/types.js"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { UsageError } from "../CliError.js"
import * as ExitCode from "../ExitCode.js"
import type { Output } from "../Output.js"
import * as render from "./render.js"
import * as serverSpec from "./serverSpec.js"

/** Between a server's prefix and a tool's name, in the names `tools --config` prints and `call` takes. */
export const separator = "__"

/** @internal */
export interface All {
  readonly command: string
  readonly common: {
    readonly json: boolean
    readonly config: Option.Option<string>
    readonly timeout: Duration.Duration
    readonly connectTimeout: Duration.Duration
  }
  readonly startedAt: number
  readonly output: Output["Type"]
  readonly paint: render.Paint
  readonly clientInfo: { readonly name: string; readonly version: string }
  readonly policy: (defaultRetries: number) => McpSessionPolicy.McpSessionPolicy
}

type Failure = McpError.McpError | UsageError

const now = Effect.map(Clock.currentTimeNanos, (n) => Number(n) / 1e6)

/** What the command line reports for a toolset's failure: the server's own error, or a usage error. */
const fromToolsetError = (error: McpToolset.ToolsetError | McpToolset.UnavailableError): Failure => {
  switch (error._tag) {
    case "ToolsetError":
      return error.reason === "Unavailable" && error.error !== undefined
        ? fromToolsetError(error.error)
        : new UsageError({ detail: error.message })
    case "PoolError":
      return new UsageError({ detail: error.message })
    default:
      return error
  }
}

const open = (all: All, servers: McpServers.McpServers, names?: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const pool = yield* McpSessionPool.make({
      servers,
      transport: NodeMcpServers.transport,
      clientInfo: all.clientInfo,
      requestTimeout: all.common.connectTimeout,
      policy: all.policy(2)
    })
    // one attempt per server: the session's own policy already retried
    const set = yield* McpToolset.make({ separator, retry: Schedule.stop, ...(names !== undefined ? { servers: names } : {}) }).pipe(
      Effect.provideService(McpSessionPool.McpSessionPool, pool)
    )
    return { set, state: yield* set.ready }
  })

const annotationsOf = (tool: Tool): string =>
  [
    tool.annotations?.readOnlyHint === true ? "read-only" : undefined,
    tool.annotations?.idempotentHint === true ? "idempotent" : undefined,
    tool.annotations?.destructiveHint === true && tool.annotations?.readOnlyHint !== true ? "destructive" : undefined
  ].filter((x) => x !== undefined).join(",")

const unavailableOf = (state: McpToolset.State) =>
  Object.entries(state.servers).flatMap(([name, status]) => status._tag === "Unavailable" ? [[name, status.error] as const] : [])

/** `tools` without a server: every server of the config file, its tools prefixed; the servers down say why. */
export const runList = (
  all: All
): Effect.Effect<ExitCode.ExitCode, Failure, Scope.Scope | FileSystem.FileSystem | Path.Path | CommandExecutor.CommandExecutor | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const servers = yield* serverSpec.loadAll(Option.getOrUndefined(all.common.config))
    if (servers.length === 0) return yield* new UsageError({ detail: "the config file has no servers" })
    const { state } = yield* open(all, servers)
    const down = unavailableOf(state)
    if (down.length === servers.length) return yield* Effect.fail(fromToolsetError(down[0]![1]))
    const ms = (yield* now) - all.startedAt
    if (all.common.json) {
      all.output.stdout(JSON.stringify({
        ok: true,
        command: all.command,
        elapsedMs: render.round(ms),
        result: {
          tools: state.tools.map((t) => ({ ...t.tool, name: t.name, server: t.server, serverToolName: t.tool.name })),
          servers: Object.fromEntries(
            Object.entries(state.servers).map(([name, status]) => [
              name,
              status._tag === "Unavailable" ? { status: status._tag, error: render.errorJson(fromToolsetError(status.error)) } : { status: status._tag }
            ])
          )
        }
      }))
    } else {
      const rows = state.tools.map((t) => [t.name, render.firstLine(t.tool.description), annotationsOf(t.tool)] as const)
      const nameWidth = Math.min(48, Math.max(0, ...rows.map(([name]) => name.length)))
      const tagWidth = Math.max(0, ...rows.map(([, , tags]) => tags.length))
      for (const [name, description, tags] of rows) {
        const room = all.output.columns - nameWidth - tagWidth - 4
        all.output.stdout(
          `${all.paint.bold(name.padEnd(nameWidth))}  ${tagWidth > 0 ? `${all.paint.dim(tags.padEnd(tagWidth))}  ` : ""}${render.truncate(description, Math.max(20, room))}`
            .trimEnd()
        )
      }
      for (const [name, error] of down) {
        all.output.stderr(`${all.paint.red("✗")} ${name}: ${render.errorLine(fromToolsetError(error))}`)
      }
      const ready = servers.length - down.length
      all.output.stderr(all.paint.dim(
        `${state.tools.length} ${state.tools.length === 1 ? "tool" : "tools"} from ${ready} of ${servers.length} servers · ${render.millis(ms)}`
      ))
    }
    return ExitCode.ExitCode.Success as ExitCode.ExitCode
  })

/** `call <server>__<tool>`: connects to that server only, and calls the tool through the toolset. */
export const runCall = (
  all: All,
  name: string,
  argumentsText: Option.Option<string>,
  parseArguments: (text: Option.Option<string>) => Effect.Effect<Record<string, unknown> | undefined, UsageError>
): Effect.Effect<ExitCode.ExitCode, Failure, Scope.Scope | FileSystem.FileSystem | Path.Path | CommandExecutor.CommandExecutor | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    if (!name.includes(separator)) {
      return yield* new UsageError({ detail: `missing <tool> (or give a prefixed name, <server>${separator}<tool>, from the config file)` })
    }
    const args = yield* parseArguments(argumentsText)
    const servers = yield* serverSpec.loadAll(Option.getOrUndefined(all.common.config))
    const matching = servers
      .filter((s) => name.startsWith(`${s.prefix ?? s.name}${separator}`))
      .sort((a, b) => (b.prefix ?? b.name).length - (a.prefix ?? a.name).length)
    const server = matching[0]
    if (server === undefined) {
      return yield* new UsageError({
        detail: `"${name}" is no <server>${separator}<tool> of the config file (its servers: ${servers.map((s) => s.prefix ?? s.name).join(", ") || "none"}); or give <server> <tool>`
      })
    }
    const { set, state } = yield* open(all, servers, [server.name])
    const status = state.servers[server.name]
    if (status?._tag === "Unavailable") return yield* Effect.fail(fromToolsetError(status.error))
    const callStarted = yield* now
    const result = yield* set.call(name, args, {
      timeout: all.common.timeout,
      toolErrors: "fail",
      onProgress: render.progressReporter(all.output, name)
    }).pipe(
      Effect.tapError((error) =>
        Effect.sync(() => {
          if (error._tag === "ToolError" && !all.common.json) {
            for (const line of render.contentLines(error.result as never)) all.output.stdout(line)
          }
        })
      ),
      Effect.mapError((error) => error._tag === "ToolsetError" ? fromToolsetError(error) : error)
    )
    const end = yield* now
    const callMs = end - callStarted
    if (all.common.json) {
      all.output.stdout(JSON.stringify({
        ok: true,
        command: all.command,
        server: McpServers.describe(server),
        elapsedMs: render.round(end - all.startedAt),
        callMs: render.round(callMs),
        result
      }))
    } else {
      for (const line of render.contentLines(result)) all.output.stdout(line)
      all.output.stderr(all.paint.dim(`${all.paint.green("✓")} ${name} · ${render.millis(callMs)}`))
    }
    return ExitCode.ExitCode.Success as ExitCode.ExitCode
  })
