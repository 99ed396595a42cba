import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Path from "@effect/platform/Path"
import type * as Terminal from "@effect/platform/Terminal"
import type { McpError } from "@effect-mcp/session"
import { McpSession, McpSessionPolicy } from "@effect-mcp/session"
import type { LoggingLevel, Prompt, Resource, ResourceTemplate, Tool } from "@modelcontextprotocol/sdk/types.js"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { UsageError } from "../CliError.js"
import * as ExitCode from "../ExitCode.js"
import { Output } from "../Output.js"
import type { ServerSpec } from "../ServerSpec.js"
import * as demo from "./demo.js"
import { parseDuration } from "./duration.js"
import * as everything from "./everything.js"
import * as render from "./render.js"
import * as serverSpec from "./serverSpec.js"
import * as toolset from "./toolset.js"

/** @internal */
export const name = "mcp-session"
/** @internal */
export const version = "0.1.0"
const clientInfo = { name, version }

/** @internal */
export type Environment =
  | Output
  | FileSystem.FileSystem
  | Path.Path
  | Terminal.Terminal
  | CommandExecutor.CommandExecutor
  | HttpClient.HttpClient

// ---------------------------------------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------------------------------------

const durationOption = (option: string, fallback: string) =>
  Options.text(option).pipe(
    Options.withDefault(fallback),
    Options.mapEffect((text) =>
      Option.match(parseDuration(text), {
        onNone: () =>
          Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--${option} expects a duration such as 500ms, 30s or 2m, got "${text}"`))),
        onSome: Effect.succeed
      })
    )
  )

const common = {
  json: Options.boolean("json").pipe(
    Options.withDescription("Print one JSON object on stdout: the result, or the error's tag and reason, with the elapsed ms")
  ),
  sse: Options.boolean("sse").pipe(Options.withDescription("The URL is a legacy HTTP+SSE endpoint (MCP 2024-11-05)")),
  header: Options.text("header").pipe(
    Options.withAlias("H"),
    Options.repeated,
    Options.withDescription(`An HTTP header "Name: value" (repeatable); values are never printed`)
  ),
  env: Options.text("env").pipe(
    Options.withAlias("e"),
    Options.repeated,
    Options.withDescription("NAME=value for a stdio server's environment (repeatable)")
  ),
  inheritEnv: Options.boolean("inherit-env").pipe(
    Options.withDescription("Pass this process's whole environment to a stdio server (default: a safe minimal set)")
  ),
  config: Options.text("config").pipe(
    Options.withAlias("c"),
    Options.optional,
    Options.withDescription("An mcpServers config file to look <server> names up in (default: ./.mcp.json)")
  ),
  timeout: durationOption("timeout", "60s").pipe(
    Options.withAlias("t"),
    Options.withDescription("Bound on each request")
  ),
  connectTimeout: durationOption("connect-timeout", "10s").pipe(
    Options.withDescription("Bound on the MCP handshake of each connection attempt")
  ),
  retries: Options.integer("retries").pipe(
    Options.optional,
    Options.withDescription(
      "Reconnection attempts after a crash or a failed connection, backing off exponentially (default: 2; watch: 10)"
    )
  ),
  replay: Options.choice("replay", ["NotDelivered", "Idempotent", "Always", "Never"] as const).pipe(
    Options.withDefault("NotDelivered" as const),
    Options.withDescription(
      "Which interrupted tool calls are sent again on the new session: NotDelivered (provably never reached the server), Idempotent (also read-only/idempotent tools), Always, Never"
    )
  )
}

const server = Args.text({ name: "server" }).pipe(
  Args.withDescription("A URL (Streamable HTTP; --sse for legacy SSE), a name from the config file, or give -- command args")
)

type Common = {
  readonly json: boolean
  readonly sse: boolean
  readonly header: ReadonlyArray<string>
  readonly env: ReadonlyArray<string>
  readonly inheritEnv: boolean
  readonly config: Option.Option<string>
  readonly timeout: Duration.Duration
  readonly connectTimeout: Duration.Duration
  readonly retries: Option.Option<number>
  readonly replay: McpSessionPolicy.ReplayRule
}

type Invocation =
  | {
    readonly _tag: "List"
    readonly what: "tools" | "resources" | "prompts"
    /** `tools` without one: every server of the config file. */
    readonly server: string | undefined
    readonly common: Common
  }
  | {
    readonly _tag: "Call"
    readonly server: string
    /** Absent when `server` is a prefixed tool name (`<server>__<tool>`) of the config file. */
    readonly tool: Option.Option<string>
    readonly arguments: Option.Option<string>
    readonly common: Common
  }
  | { readonly _tag: "Ping"; readonly server: string; readonly common: Common }
  | {
    readonly _tag: "Watch"
    readonly server: string
    readonly interval: Duration.Duration
    readonly count: Option.Option<number>
    readonly serverLogLevel: Option.Option<LoggingLevel>
    readonly common: Common
  }
  | { readonly _tag: "Demo"; readonly port: Option.Option<number> }

interface Parsed {
  readonly set: (invocation: Invocation, logLevel: LogLevel.LogLevel) => void
}
const Parsed = Context.GenericTag<Parsed>("@effect-mcp/cli/internal/Parsed")

/** The handlers only record what was asked; `run` executes it, so that it owns the exit code. */
const record = (invocation: Invocation) =>
  Effect.flatMap(
    Effect.zip(Parsed, FiberRef.get(FiberRef.currentMinimumLogLevel)),
    ([parsed, level]) => Effect.sync(() => parsed.set(invocation, level))
  )

const pickCommon = (c: Common): Common => ({
  json: c.json,
  sse: c.sse,
  header: c.header,
  env: c.env,
  inheritEnv: c.inheritEnv,
  config: c.config,
  timeout: c.timeout,
  connectTimeout: c.connectTimeout,
  retries: c.retries,
  replay: c.replay
})

const listCommand = (what: "tools" | "resources" | "prompts", description: string) =>
  Command.make(
    what,
    { server: what === "tools" ? Args.optional(server) : Args.map(server, Option.some), ...common },
    (c) => record({ _tag: "List", what, server: Option.getOrUndefined(c.server), common: pickCommon(c) })
  ).pipe(
    Command.withDescription(description)
  )

const callCommand = Command.make(
  "call",
  {
    server,
    tool: Args.text({ name: "tool" }).pipe(
      Args.optional,
      Args.withDescription("The tool's name; omitted when <server> is a prefixed name from the config file (server__tool)")
    ),
    arguments: Args.text({ name: "arguments" }).pipe(
      Args.optional,
      Args.withDescription(`The tool's arguments as a JSON object, e.g. '{"message":"hi"}'`)
    ),
    ...common
  },
  (c) =>
    record(
      // `call <server>__<tool> [arguments]`: the second positional is the arguments, not a tool
      Option.isSome(c.tool) && Option.isNone(c.arguments) && /^\s*[[{]/.test(c.tool.value) &&
          c.server.includes(toolset.separator) && !c.server.startsWith("<stdio: ")
        ? { _tag: "Call", server: c.server, tool: Option.none(), arguments: c.tool, common: pickCommon(c) }
        : { _tag: "Call", server: c.server, tool: c.tool, arguments: c.arguments, common: pickCommon(c) }
    )
).pipe(Command.withDescription("Call a tool and print its result; progress shows as a bar on a terminal"))

const pingCommand = Command.make(
  "ping",
  { server, ...common },
  (c) => record({ _tag: "Ping", server: c.server, common: pickCommon(c) })
).pipe(Command.withDescription("Connect, ping once, print the latency"))

const watchCommand = Command.make(
  "watch",
  {
    server,
    interval: durationOption("interval", "5s").pipe(Options.withDescription("Time between latency pings")),
    count: Options.integer("count").pipe(Options.optional, Options.withDescription("Stop after this many pings")),
    serverLogLevel: Options.choice(
      "server-log-level",
      ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"] as const
    ).pipe(Options.optional, Options.withDescription("Ask the server to send log messages from this level up")),
    ...common
  },
  (c) =>
    record({
      _tag: "Watch",
      server: c.server,
      interval: c.interval,
      count: c.count,
      serverLogLevel: c.serverLogLevel,
      common: pickCommon(c)
    })
).pipe(Command.withDescription("Stay connected: print lifecycle events, server notifications and ping latency until Ctrl-C"))

const demoCommand = Command.make(
  "demo",
  {
    port: Options.integer("port").pipe(
      Options.mapEffect((port) =>
        everything.isPort(port)
          ? Effect.succeed(port)
          : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--port expects a port from 1 to 65535, got ${port}`)))
      ),
      Options.optional,
      Options.withDescription("The port of 127.0.0.1 for server-everything, 1 to 65535 (default: a free one)")
    )
  },
  (c) => record({ _tag: "Demo", port: c.port })
).pipe(Command.withDescription("Start server-everything, kill it mid-call, restart it, and watch the session recover"))

/** @internal */
export const subcommands = ["tools", "resources", "prompts", "call", "ping", "watch", "demo"] as const

/** @internal */
export const command = Command.make(name).pipe(
  Command.withDescription("Talk to any MCP server through a resilient @effect-mcp/session"),
  Command.withSubcommands([
    listCommand("tools", "List the server's tools; without a <server>, those of every server in the config file, prefixed"),
    listCommand("resources", "List the server's resources and resource templates"),
    listCommand("prompts", "List the server's prompts"),
    callCommand,
    pingCommand,
    watchCommand,
    demoCommand
  ])
)

const cli = Command.run(command, { name, version })

/** Options written before the subcommand (`mcp-session --json tools ...`) are moved after it. */
const hoistOptions = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  const dashes = argv.indexOf("--")
  const head = dashes < 0 ? argv : argv.slice(0, dashes)
  const at = head.findIndex((arg) => (subcommands as ReadonlyArray<string>).includes(arg))
  if (at <= 0 || !head[0]!.startsWith("-")) return argv
  return [argv[at]!, ...argv.slice(0, at), ...argv.slice(at + 1)]
}

/**
 * `-- command args` ends the command line: we take it out before parsing and put a placeholder where the
 * `<server>` argument goes (right after the subcommand), so that `<tool>` and `[arguments]` keep their
 * places.
 */
const splitStdio = (input: ReadonlyArray<string>) => {
  const argv = hoistOptions(input)
  const dashes = argv.indexOf("--")
  if (dashes < 0) return { argv, stdio: undefined, placeholder: undefined }
  const before = argv.slice(0, dashes)
  const stdio = argv.slice(dashes + 1)
  const placeholder = `<stdio: ${stdio.join(" ")}>`
  const at = before.findIndex((arg) => (subcommands as ReadonlyArray<string>).includes(arg))
  if (at < 0) return { argv: before, stdio, placeholder }
  return { argv: [...before.slice(0, at + 1), placeholder, ...before.slice(at + 1)], stdio, placeholder }
}

// ---------------------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------------------

const now = Effect.map(Clock.currentTimeNanos, (n) => Number(n) / 1e6)

// A permanent failure (a wrong URL, a refused credential, a missing command) gives up at once: the
// policy's default `retryable` judges each attempt before this schedule is asked.
const reconnect = (retries: number) =>
  Schedule.exponential("100 millis", 2).pipe(
    Schedule.union(Schedule.spaced("5 seconds")),
    Schedule.jittered,
    Schedule.intersect(Schedule.recurs(Math.max(0, retries)))
  )

const openSession = (
  ctx: Context,
  options: { readonly defaultRetries: number; readonly keepAlive: boolean }
) => {
  const { common, spec } = ctx
  const opening = McpSession.makeResilient(
    {
      transport: serverSpec.transport(spec),
      clientInfo,
      requestTimeout: common.timeout,
      initializeTimeout: common.connectTimeout
    },
    McpSessionPolicy.make({
      reconnect: reconnect(Option.getOrElse(common.retries, () => options.defaultRetries)),
      replay: common.replay,
      maxWait: Duration.max(common.timeout, common.connectTimeout),
      keepAlive: options.keepAlive ? McpSessionPolicy.defaultKeepAlive : false
    })
  )
  if (common.json) return opening
  // a server slow to answer the handshake is named, once, so that a person knows what the command waits for
  const notice = Effect.sleep("1 second").pipe(
    Effect.zipRight(Effect.sync(() =>
      ctx.output.stderr(ctx.paint.dim(
        `waiting for ${serverSpec.describe(spec)} to answer the MCP handshake (at most ${
          Duration.format(common.connectTimeout)
        } an attempt: --connect-timeout)…`
      ))
    ))
  )
  return Effect.flatMap(Effect.fork(notice), (waiting) => Effect.ensuring(opening, Fiber.interrupt(waiting)))
}

interface Context {
  readonly command: string
  readonly spec: ServerSpec
  readonly common: Common
  readonly startedAt: number
  readonly output: Output["Type"]
  readonly paint: render.Paint
  /** Every request is bounded by --timeout; the handshake by --connect-timeout. */
  readonly request: { readonly timeout: Duration.Duration }
}

const elapsed = (ctx: { readonly startedAt: number }) => Effect.map(now, (t) => t - ctx.startedAt)

const succeed = (ctx: Context, result: unknown, human: (ms: number) => void, extra: Record<string, unknown> = {}) =>
  Effect.gen(function*() {
    const ms = yield* elapsed(ctx)
    if (ctx.common.json) {
      ctx.output.stdout(JSON.stringify({
        ok: true,
        command: ctx.command,
        server: serverSpec.describe(ctx.spec),
        elapsedMs: render.round(ms),
        ...extra,
        result
      }))
    } else {
      human(ms)
    }
    return ExitCode.ExitCode.Success as ExitCode.ExitCode
  })

const parseArguments = (text: Option.Option<string>): Effect.Effect<Record<string, unknown> | undefined, UsageError> =>
  Option.match(text, {
    onNone: () => Effect.succeed(undefined),
    onSome: (json) =>
      Effect.try({
        try: () => JSON.parse(json) as unknown,
        catch: (e) => new UsageError({ detail: `[arguments] is not valid JSON: ${e instanceof Error ? e.message : String(e)}` })
      }).pipe(
        Effect.filterOrFail(
          (value): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value),
          () => new UsageError({ detail: `[arguments] must be a JSON object, e.g. '{"message":"hi"}'` })
        )
      )
  })

const annotationsOf = (tool: Tool): string =>
  [
    tool.annotations?.readOnlyHint === true ? "read-only" : undefined,
    tool.annotations?.idempotentHint === true ? "idempotent" : undefined,
    tool.annotations?.destructiveHint === true && tool.annotations?.readOnlyHint !== true ? "destructive" : undefined
  ].filter((x) => x !== undefined).join(",")

/** Name, tags, description: one line per entry, cut to the terminal's width. */
const table = (ctx: Context, rows: ReadonlyArray<readonly [name: string, description: string, tags: string]>) => {
  const nameWidth = Math.min(40, Math.max(0, ...rows.map(([name]) => name.length)))
  const tagWidth = Math.max(0, ...rows.map(([, , tags]) => tags.length))
  for (const [name, description, tags] of rows) {
    const room = ctx.output.columns - nameWidth - tagWidth - 4
    ctx.output.stdout(
      `${ctx.paint.bold(name.padEnd(nameWidth))}  ${tagWidth > 0 ? `${ctx.paint.dim(tags.padEnd(tagWidth))}  ` : ""}${render.truncate(description, Math.max(20, room))}`.trimEnd()
    )
  }
}

const runList = (ctx: Context, what: "tools" | "resources" | "prompts") =>
  Effect.gen(function*() {
    const { session } = yield* openSession(ctx, { defaultRetries: 2, keepAlive: false })
    const capabilities = session.serverCapabilities
    const info = `${session.serverInfo.name} ${session.serverInfo.version}`
    const footer = (count: number, noun: string, ms: number) =>
      ctx.output.stderr(ctx.paint.dim(`${count} ${noun} · ${info} · ${render.millis(ms)}`))
    switch (what) {
      case "tools": {
        const tools: ReadonlyArray<Tool> = capabilities.tools !== undefined ? yield* session.listTools(ctx.request) : []
        return yield* succeed(ctx, { tools }, (ms) => {
          table(ctx, tools.map((t) => [t.name, render.firstLine(t.description), annotationsOf(t)] as const))
          footer(tools.length, tools.length === 1 ? "tool" : "tools", ms)
        })
      }
      case "resources": {
        const resources: ReadonlyArray<Resource> = capabilities.resources !== undefined ? yield* session.listResources(ctx.request) : []
        const resourceTemplates: ReadonlyArray<ResourceTemplate> = capabilities.resources !== undefined
          ? yield* session.listResourceTemplates(ctx.request)
          : []
        return yield* succeed(ctx, { resources, resourceTemplates }, (ms) => {
          table(ctx, [
            ...resources.map((r) => [r.uri, r.name, r.mimeType ?? ""] as const),
            ...resourceTemplates.map((t) => [t.uriTemplate, t.name, "(template)"] as const)
          ])
          footer(resources.length + resourceTemplates.length, `resources (${resourceTemplates.length} templates)`, ms)
        })
      }
      case "prompts": {
        const prompts: ReadonlyArray<Prompt> = capabilities.prompts !== undefined ? yield* session.listPrompts(ctx.request) : []
        return yield* succeed(ctx, { prompts }, (ms) => {
          table(
            ctx,
            prompts.map((p) =>
              [p.name, render.firstLine(p.description), (p.arguments ?? []).map((a) => a.required === true ? a.name : `${a.name}?`).join(" ")] as const
            )
          )
          footer(prompts.length, prompts.length === 1 ? "prompt" : "prompts", ms)
        })
      }
    }
  })

const runCall = (ctx: Context, toolName: Option.Option<string>, argumentsText: Option.Option<string>) =>
  Effect.gen(function*() {
    if (Option.isNone(toolName)) return yield* new UsageError({ detail: "missing <tool>" })
    const tool = toolName.value
    const args = yield* parseArguments(argumentsText)
    const { session } = yield* openSession(ctx, { defaultRetries: 2, keepAlive: false })
    const callStarted = yield* now
    const result = yield* session.callTool(
      { name: tool, ...(args !== undefined ? { arguments: args } : {}) },
      { ...ctx.request, toolErrors: "fail", onProgress: render.progressReporter(ctx.output, tool) }
    ).pipe(
      Effect.tapError((error) =>
        Effect.sync(() => {
          // the tool's own words belong on stdout, as a successful result's would
          if (error._tag === "ToolError" && !ctx.common.json) {
            for (const line of render.contentLines(error.result as never)) ctx.output.stdout(line)
          }
        })
      )
    )
    const callMs = (yield* now) - callStarted
    return yield* succeed(ctx, result, () => {
      for (const line of render.contentLines(result)) ctx.output.stdout(line)
      ctx.output.stderr(ctx.paint.dim(`${ctx.paint.green("✓")} ${tool} · ${render.millis(callMs)}`))
    }, { callMs: render.round(callMs) })
  })

const runPing = (ctx: Context) =>
  Effect.gen(function*() {
    const { session } = yield* openSession(ctx, { defaultRetries: 2, keepAlive: false })
    const connectMs = yield* elapsed(ctx)
    const before = yield* now
    yield* session.ping(ctx.request)
    const pingMs = (yield* now) - before
    const serverInfo = session.serverInfo
    return yield* succeed(
      ctx,
      { pingMs: render.round(pingMs), connectMs: render.round(connectMs), serverInfo },
      () =>
        ctx.output.stdout(
          `pong from ${serverInfo.name} ${serverInfo.version} in ${render.millis(pingMs)} ${ctx.paint.dim(`(connected in ${render.millis(connectMs)})`)}`
        )
    )
  })

const runWatch = (
  ctx: Context,
  interval: Duration.Duration,
  count: Option.Option<number>,
  serverLogLevel: Option.Option<LoggingLevel>
) =>
  Effect.gen(function*() {
    const { paint: p } = ctx
    const emit = (event: string, fields: Record<string, unknown>, human: string) =>
      Effect.flatMap(elapsed(ctx), (ms) =>
        Effect.sync(() =>
          ctx.common.json
            ? ctx.output.stdout(JSON.stringify({ event, elapsedMs: render.round(ms), ...fields }))
            : ctx.output.stdout(`${p.dim(`+${(ms / 1000).toFixed(2).padStart(7)}s`)}  ${human}`)
        ))
    const { lifecycle, session } = yield* openSession(ctx, { defaultRetries: 10, keepAlive: true })
    // subscribe before anything can happen, then print from a fiber of this scope
    const events = yield* Stream.toPull(lifecycle.events)
    const notifications = yield* Stream.toPull(session.notifications)
    // the first event is the current state: Connected, generation 1
    yield* events.pipe(
      Effect.flatMap(Effect.forEach((event) => {
        switch (event._tag) {
          case "Connected":
            return emit(
              event._tag,
              { generation: event.generation, serverInfo: event.serverInfo },
              `${p.green("●")} connected to ${event.serverInfo.name} ${event.serverInfo.version} ${p.dim(`(${serverSpec.describe(ctx.spec)}, generation ${event.generation})`)}`
            )
          case "Crashed":
            return emit(
              event._tag,
              { generation: event.generation, error: render.errorJson(event.error) },
              `${p.red("✗")} crashed: ${render.errorLine(event.error)}`
            )
          case "Rebuilding":
            return emit(
              event._tag,
              { attempt: event.attempt, error: render.errorJson(event.error) },
              `${p.yellow("↻")} reconnection attempt ${event.attempt} failed: ${render.attemptLine(event.error)}`
            )
          case "Rebuilt":
            return emit(
              event._tag,
              { generation: event.generation, millis: event.millis, serverInfo: event.serverInfo },
              `${p.green("●")} rebuilt: generation ${event.generation}, ${render.millis(event.millis)} after the crash`
            )
          case "Replayed":
            return emit(event._tag, { method: event.method, target: event.target, attempt: event.attempt }, `${p.yellow("↻")} replayed ${event.method}`)
          case "GaveUp":
            return emit(event._tag, { error: render.errorJson(event.error) }, `${p.red("✗")} ${render.errorLine(event.error)}`)
        }
      })),
      Effect.forever,
      Effect.ignore,
      Effect.forkScoped
    )
    yield* notifications.pipe(
      Effect.flatMap(Effect.forEach((n) => {
        const params = "params" in n && n.params !== undefined ? n.params : undefined
        const summary = n.method === "notifications/message" && params !== undefined
          ? `${(params as { level: string }).level}: ${JSON.stringify((params as { data: unknown }).data)}`
          : params !== undefined
          ? JSON.stringify(params)
          : ""
        return emit("Notification", { method: n.method, params }, `${p.blue("◆")} ${n.method} ${p.dim(render.truncate(summary, ctx.output.columns - n.method.length - 16))}`)
      })),
      Effect.forever,
      Effect.ignore,
      Effect.forkScoped
    )
    if (Option.isSome(serverLogLevel)) yield* session.setLoggingLevel(serverLogLevel.value, ctx.request)

    const pingOnce = Effect.gen(function*() {
      const before = yield* now
      const exit = yield* Effect.exit(session.ping(ctx.request))
      const ms = (yield* now) - before
      const state = yield* lifecycle.state
      const generation = state._tag === "GaveUp" ? undefined : state.generation
      if (exit._tag === "Success") {
        return yield* emit("Ping", { latencyMs: render.round(ms), generation }, `${p.dim("·")} ping ${render.millis(ms)} ${p.dim(`(generation ${generation})`)}`)
      }
      const error = Cause.failureOption(exit.cause)
      if (Option.isSome(error) && error.value._tag === "GaveUp") return yield* error.value
      return yield* emit(
        "PingFailed",
        { latencyMs: render.round(ms), error: Option.isSome(error) ? render.errorJson(error.value) : { _tag: "Defect" } },
        `${p.red("✗")} ping failed after ${render.millis(ms)}: ${Option.isSome(error) ? render.errorLine(error.value) : Cause.pretty(exit.cause)}`
      )
    })
    const pings = Option.match(count, {
      onNone: () => Effect.repeat(pingOnce, Schedule.spaced(interval)).pipe(Effect.asVoid),
      onSome: (n) => n <= 0 ? Effect.void : Effect.repeat(pingOnce, Schedule.addDelay(Schedule.recurs(n - 1), () => interval)).pipe(Effect.asVoid)
    })
    // until the count, the session's end, or the reader of stdout going away (`| head`)
    yield* Effect.raceAll([pings, session.await, ctx.output.closed])
    return ExitCode.ExitCode.Success as ExitCode.ExitCode
  })

type Failure = McpError.McpError | UsageError

const reportFailure = (
  output: Output["Type"],
  json: boolean,
  command: string,
  server: string | undefined,
  ms: number,
  error: Failure
): ExitCode.ExitCode => {
  const code = ExitCode.fromError(error)
  if (json) {
    output.stdout(JSON.stringify({
      ok: false,
      command,
      ...(server !== undefined ? { server } : {}),
      elapsedMs: render.round(ms),
      exitCode: code,
      error: render.errorJson(error),
      ...(error._tag === "ToolError" ? { result: error.result } : {})
    }))
  } else {
    const p = render.paint(output.color)
    if (error._tag === "UsageError") {
      output.stderr(`${name}: ${error.message}`)
      output.stderr(p.dim(`see: ${name} ${command.length > 0 ? `${command} ` : ""}--help`))
    } else if (error._tag === "ToolError") {
      output.stderr(`${p.red("✗")} tool ${error.toolName} reported an error ${p.dim(`· ${render.millis(ms)}`)}`)
    } else {
      output.stderr(`${p.red("✗")} ${render.errorLine(error)} ${p.dim(`· after ${render.millis(ms)}`)}`)
    }
  }
  return code
}

/**
 * With `-- command args`, the placeholder takes the `<server>` place, so a `<server>` given as well shifts
 * `call`'s positionals by one: `call <server> <tool> -- cmd` reads as `<tool>` = the server and
 * `[arguments]` = the tool. A tool name is never a URL and `[arguments]` is a JSON object (or an attempt at
 * one): anything else in those places is the server, and `resolve` says "not both".
 */
const serverBesidesStdio = (invocation: Exclude<Invocation, { readonly _tag: "Demo" }>): string | undefined => {
  if (invocation._tag !== "Call" || Option.isNone(invocation.tool)) return undefined
  if (serverSpec.isUrl(invocation.tool.value)) return invocation.tool.value
  if (Option.isSome(invocation.arguments) && !/^\s*[[{]/.test(invocation.arguments.value)) return invocation.tool.value
  return undefined
}

const execute = (
  invocation: Invocation,
  stdio: { readonly argv: ReadonlyArray<string> | undefined; readonly placeholder: string | undefined }
): Effect.Effect<ExitCode.ExitCode, never, Environment> =>
  Effect.gen(function*() {
    const output = yield* Output
    const startedAt = yield* now
    if (invocation._tag === "Demo") {
      if (stdio.argv !== undefined) {
        return reportFailure(output, false, "demo", undefined, 0, new UsageError({ detail: "demo takes no server" }))
      }
      return yield* demo.run({ port: Option.getOrUndefined(invocation.port) }).pipe(
        Effect.as(ExitCode.ExitCode.Success as ExitCode.ExitCode),
        Effect.catchAll((error) =>
          Effect.sync(() => {
            output.stderr(`${render.paint(output.color).red("✗")} the demo failed: ${error.message}`)
            // a server that could not be started (its port in use) is not a bug of ours; the session's
            // errors have their own codes; only a demo that went wrong otherwise is
            return error._tag === "DemoFailed"
              ? ExitCode.ExitCode.Internal
              : error._tag === "ServerFailed"
              ? ExitCode.ExitCode.TransportCrashed
              : ExitCode.fromError(error)
          })
        ),
        Effect.scoped
      )
    }
    const command = invocation._tag === "List" ? invocation.what : invocation._tag.toLowerCase()
    const c = invocation.common
    const server = invocation.server === stdio.placeholder ? serverBesidesStdio(invocation) : invocation.server
    const viaStdio = stdio.placeholder !== undefined && invocation.server === stdio.placeholder
    if (!viaStdio && ((invocation._tag === "List" && invocation.server === undefined) || (invocation._tag === "Call" && Option.isNone(invocation.tool)))) {
      const all = {
        command,
        common: c,
        startedAt,
        output,
        paint: render.paint(output.color),
        clientInfo,
        policy: (retries: number) =>
          McpSessionPolicy.make({
            reconnect: reconnect(Option.getOrElse(c.retries, () => retries)),
            replay: c.replay,
            maxWait: Duration.max(c.timeout, c.connectTimeout),
            keepAlive: false
          })
      }
      return yield* (invocation._tag === "Call"
        ? toolset.runCall(all, invocation.server, invocation.arguments, parseArguments)
        : toolset.runList(all)).pipe(
          Effect.scoped,
          Effect.catchAll((error: Failure) =>
            Effect.map(now, (t) => reportFailure(output, c.json, command, undefined, t - startedAt, error))
          )
        )
    }
    let spec: ServerSpec | undefined
    const program = Effect.gen(function*() {
      spec = yield* serverSpec.resolve({
        server,
        stdio: invocation.server === stdio.placeholder ? stdio.argv : undefined,
        sse: c.sse,
        headers: c.header,
        env: c.env,
        inheritEnv: c.inheritEnv,
        config: Option.getOrUndefined(c.config)
      })
      const ctx: Context = {
        command,
        spec,
        common: c,
        startedAt,
        output,
        paint: render.paint(output.color),
        request: { timeout: c.timeout }
      }
      switch (invocation._tag) {
        case "List":
          return yield* runList(ctx, invocation.what)
        case "Call":
          return yield* runCall(ctx, invocation.tool, invocation.arguments)
        case "Ping":
          return yield* runPing(ctx)
        case "Watch":
          return yield* runWatch(ctx, invocation.interval, invocation.count, invocation.serverLogLevel)
      }
    })
    return yield* program.pipe(
      Effect.scoped,
      Effect.catchAll((error: Failure) =>
        Effect.map(now, (t) =>
          reportFailure(output, c.json, command, spec !== undefined ? serverSpec.describe(spec) : undefined, t - startedAt, error))
      )
    )
  })

const ansi = /\x1b\[[0-9;]*m/g

/** Routes `Console.log` to `stdout` (or `stderr`), `Console.error` to `stderr`, without colors off a terminal. */
const withOutputConsole = (output: Output["Type"], logTo: "stdout" | "stderr" = "stdout") =>
<A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Console.consoleWith((current) => {
    const text = (args: ReadonlyArray<unknown>) => {
      const joined = args.map((a) => (typeof a === "string" ? a : String(a))).join(" ")
      return output.color ? joined : joined.replace(ansi, "")
    }
    const log = (...args: ReadonlyArray<unknown>) => output[logTo](text(args))
    const error = (...args: ReadonlyArray<unknown>) => output.stderr(text(args))
    return Effect.withConsole(effect, {
      ...current,
      log: (...args) => Effect.sync(() => log(...args)),
      error: (...args) => Effect.sync(() => error(...args)),
      unsafe: { ...current.unsafe, log, error }
    })
  })

const builtIns = ["--help", "-h", "--version", "--wizard", "--completions"]

/** @internal */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<ExitCode.ExitCode, never, Environment> =>
  Effect.gen(function*() {
    const output = yield* Output
    const json = argv.includes("--json")
    if (argv.length === 0) {
      // no command: the help, on stderr, as a usage error
      yield* cli(["node", name, "--help"]).pipe(
        withOutputConsole(output, "stderr"),
        Effect.provideService(Parsed, { set: () => {} }),
        Effect.ignore
      )
      return ExitCode.ExitCode.UsageError as ExitCode.ExitCode
    }
    const split = splitStdio(argv)
    let parsed: { readonly invocation: Invocation; readonly logLevel: LogLevel.LogLevel } | undefined
    const exit = yield* cli(["node", name, ...split.argv]).pipe(
      // what @effect/cli prints (help, usage errors) goes through Output too
      withOutputConsole(output),
      Effect.provideService(Parsed, { set: (invocation, logLevel) => void (parsed = { invocation, logLevel }) }),
      // library logs stay quiet unless --log-level asks for them
      Logger.withMinimumLogLevel(LogLevel.None),
      Effect.exit
    )
    if (exit._tag === "Failure") {
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure) && ValidationError.isValidationError(failure.value)) {
        // @effect/cli has already printed what was wrong to stderr
        if (json) {
          output.stdout(JSON.stringify({
            ok: false,
            exitCode: ExitCode.ExitCode.UsageError,
            error: { _tag: "UsageError", message: HelpDoc.toAnsiText(failure.value.error).trim() }
          }))
        }
        return ExitCode.ExitCode.UsageError as ExitCode.ExitCode
      }
      return yield* Effect.orDie(Effect.failCause(exit.cause))
    }
    if (parsed === undefined) {
      if (argv.some((arg) => builtIns.includes(arg))) return ExitCode.ExitCode.Success as ExitCode.ExitCode
      return reportFailure(
        output,
        json,
        "",
        undefined,
        0,
        new UsageError({ detail: `missing command: one of ${subcommands.join(", ")}` })
      )
    }
    const { invocation, logLevel } = parsed
    return yield* execute(invocation, { argv: split.stdio, placeholder: split.placeholder }).pipe(
      Logger.withMinimumLogLevel(logLevel)
    )
  }).pipe(
    Effect.catchAllDefect((defect) =>
      Effect.flatMap(Output, (output) =>
        Effect.sync(() => {
          output.stderr(`${name}: internal error (please report it): ${Cause.pretty(Cause.die(defect))}`)
          return ExitCode.ExitCode.Internal as ExitCode.ExitCode
        })
      )
    )
  )
