import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Path from "@effect/platform/Path"
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import { McpServers } from "@effect-mcp/session"
import type { McpTransport } from "@effect-mcp/session"
import type * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import { UsageError } from "../CliError.js"
import type * as Api from "../ServerSpec.js"

type ServerSpec = Api.ServerSpec

const constructors = Data.taggedEnum<ServerSpec>()

/** @internal */
export const Stdio = constructors.Stdio
/** @internal */
export const StreamableHttp = constructors.StreamableHttp
/** @internal */
export const Sse = constructors.Sse

const usage = (detail: string) => new UsageError({ detail })

// ---------------------------------------------------------------------------------------------------------
// Config files: read by @effect-mcp/session's McpServers, one parser for the library and the command line
// ---------------------------------------------------------------------------------------------------------

/** A ConfigError as one line: the path of the field, then what is wrong. Never a secret: none is quoted. */
const formatConfigError = (error: ConfigError.ConfigError): string => {
  switch (error._op) {
    case "And":
    case "Or":
      return `${formatConfigError(error.left)}; ${formatConfigError(error.right)}`
    case "InvalidData":
    case "MissingData":
    case "SourceUnavailable":
    case "Unsupported":
      return error.path.length > 0 ? `${error.path.join(".")}: ${error.message}` : error.message
  }
}

const environmentProvider = (environment: Readonly<Record<string, string | undefined>>) =>
  ConfigProvider.fromMap(
    new Map(Object.entries(environment).filter((entry): entry is [string, string] => entry[1] !== undefined))
  )

const isServersFile = (config: unknown): config is { readonly mcpServers: Record<string, unknown> } =>
  typeof config === "object" && config !== null && !Array.isArray(config) &&
  typeof (config as { mcpServers?: unknown }).mcpServers === "object" &&
  (config as { mcpServers?: unknown }).mcpServers !== null &&
  !Array.isArray((config as { mcpServers?: unknown }).mcpServers)

const notServersFile = (source: string) => usage(`${source}: not an mcpServers config file (it needs "mcpServers": an object of servers)`)

/** Every server of a parsed config file, ${VAR} expanded from `environment`. */
const serversOf = (
  config: unknown,
  source: string,
  environment: Readonly<Record<string, string | undefined>>
): Either.Either<McpServers.McpServers, UsageError> => {
  if (!isServersFile(config)) return Either.left(notServersFile(source))
  return Effect.runSync(Effect.either(McpServers.fromJson(config, { environment: environmentProvider(environment) }))).pipe(
    Either.mapLeft((error) => usage(`${source}: ${formatConfigError(error)}`))
  )
}

const plain = (record: Readonly<Record<string, Redacted.Redacted<string>>>): Record<string, string> =>
  Object.fromEntries(Object.entries(record).map(([name, value]) => [name, Redacted.value(value)]))

/** @internal */
export const fromServer = (server: McpServers.Server): ServerSpec => {
  switch (server._tag) {
    case "Stdio":
      return Stdio({
        command: server.command,
        args: server.args,
        env: plain(server.env),
        cwd: server.cwd,
        inheritEnv: false,
        name: server.name
      })
    case "StreamableHttp":
      return StreamableHttp({ url: server.url, headers: plain(server.headers), name: server.name })
    case "Sse":
      return Sse({ url: server.url, headers: plain(server.headers), name: server.name })
  }
}

/** @internal */
export const fromConfig = (
  config: unknown,
  name: string,
  source: string,
  environment: Readonly<Record<string, string | undefined>> = process.env
): Either.Either<ServerSpec, UsageError> =>
  Either.gen(function*() {
    if (!isServersFile(config)) return yield* Either.left(notServersFile(source))
    if (!Object.hasOwn(config.mcpServers, name)) {
      const known = Object.keys(config.mcpServers)
      return yield* Either.left(usage(
        `no server named "${name}" in ${source}${known.length > 0 ? ` (it has: ${known.join(", ")})` : " (it has none)"}`
      ))
    }
    // only this entry: another one's problems (or unset variables) are not this command's
    const [server] = yield* serversOf({ mcpServers: { [name]: config.mcpServers[name] } }, source, environment)
    return fromServer(server!)
  })

// ---------------------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------------------

/** @internal */
export const isUrl = (s: string): boolean => /^https?:\/\//i.test(s)

const checkUrl = (url: string, where: string): Either.Either<string, UsageError> => {
  try {
    const parsed = new URL(url)
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      return Either.left(usage(`${where}: ${url} is not an http(s) URL`))
    }
    return Either.right(parsed.toString())
  } catch {
    return Either.left(usage(`${where}: ${url} is not a valid URL`))
  }
}

/**
 * What makes a header value unusable, if anything. RFC 9110 field values are visible ASCII, obs-text, spaces
 * and tabs: a CR, LF or NUL would split or break the request. The value is never shown: it may be a secret.
 */
const invalidValue = (value: string): string | undefined => {
  const bad = /[^\t\x20-\x7e\x80-\xff]/.exec(value)
  if (bad === null) return undefined
  const code = bad[0].charCodeAt(0)
  const what = code === 0x0a
    ? "a line feed"
    : code === 0x0d
    ? "a carriage return"
    : `the character U+${code.toString(16).toUpperCase().padStart(4, "0")}`
  return `${what} (only visible characters, spaces and tabs)`
}

/** @internal */
export const parseHeader = (header: string): Either.Either<readonly [string, string], UsageError> => {
  const colon = header.indexOf(":")
  const name = colon > 0 ? header.slice(0, colon).trim() : ""
  if (colon <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    return Either.left(usage(`--header expects "Name: value", got "${header.length > 40 ? `${header.slice(0, 40)}…` : header}"`))
  }
  const value = header.slice(colon + 1).trim()
  const invalid = invalidValue(value)
  if (invalid !== undefined) return Either.left(usage(`--header ${name}: the value may not contain ${invalid}`))
  return Either.right([name, value] as const)
}

const parseEnv = (assignment: string): Either.Either<readonly [string, string], UsageError> => {
  const eq = assignment.indexOf("=")
  const name = eq > 0 ? assignment.slice(0, eq) : ""
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)
    ? Either.right([name, assignment.slice(eq + 1)] as const)
    : Either.left(usage(`--env expects NAME=value, got "${assignment.length > 40 ? `${assignment.slice(0, 40)}…` : assignment}"`))
}

const readConfig = (path: string, explicit: boolean) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError(() =>
        usage(
          explicit
            ? `cannot read the config file ${path}`
            : `not a URL, and there is no ${path} here to look the name up in (give a URL, -- command args, or --config <file>)`
        )
      )
    )
    return yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) => usage(`${path} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`)
    })
  })

/** @internal */
export const resolve = (input: Api.ServerSpec.Input): Effect.Effect<ServerSpec, UsageError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const headers: Record<string, string> = {}
    for (const header of input.headers) {
      const [name, value] = yield* parseHeader(header)
      headers[name] = value
    }
    const env: Record<string, string> = {}
    for (const assignment of input.env) {
      const [name, value] = yield* parseEnv(assignment)
      env[name] = value
    }
    const forHttp = () => {
      if (input.env.length > 0 || input.inheritEnv) {
        return Either.left(usage("--env and --inherit-env apply to stdio servers (-- command args) only"))
      }
      return Either.right(undefined)
    }
    const forStdio = () => {
      if (input.headers.length > 0) return Either.left(usage("--header applies to HTTP servers only"))
      if (input.sse) return Either.left(usage("--sse applies to HTTP servers only"))
      return Either.right(undefined)
    }

    if (input.stdio !== undefined) {
      if (input.server !== undefined) return yield* usage("give either a <server> or -- command args, not both")
      const [command, ...args] = input.stdio
      if (command === undefined || command.length === 0) return yield* usage("-- must be followed by a command")
      yield* forStdio()
      return Stdio({ command, args, env, cwd: undefined, inheritEnv: input.inheritEnv, name: undefined })
    }
    if (input.server === undefined || input.server.length === 0) {
      return yield* usage("missing <server>: a URL, a name from the config file, or -- command args")
    }
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(input.server)
    if (scheme !== null && !isUrl(input.server)) {
      return yield* usage(`<server>: ${scheme[1]}:// URLs are not supported (http and https only)`)
    }
    if (isUrl(input.server)) {
      yield* forHttp()
      const url = yield* checkUrl(input.server, "<server>")
      return input.sse ? Sse({ url, headers, name: undefined }) : StreamableHttp({ url, headers, name: undefined })
    }

    const path = yield* Path.Path
    const file = input.config ?? defaultConfigFile
    const config = yield* readConfig(file, input.config !== undefined)
    const spec = yield* fromConfig(config, input.server, path.basename(file) === file ? file : path.normalize(file))
    switch (spec._tag) {
      case "Stdio":
        yield* forStdio()
        return Stdio({ ...spec, env: { ...spec.env, ...env }, inheritEnv: spec.inheritEnv || input.inheritEnv })
      case "StreamableHttp":
      case "Sse": {
        yield* forHttp()
        const merged = { ...spec.headers, ...headers }
        return input.sse ? Sse({ url: spec.url, headers: merged, name: spec.name }) : constructors[spec._tag]({ ...spec, headers: merged })
      }
    }
  })

const defaultConfigFile = ".mcp.json"

/** @internal */
export const loadAll = (
  config: string | undefined,
  environment: Readonly<Record<string, string | undefined>> = process.env
): Effect.Effect<McpServers.McpServers, UsageError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const file = config ?? defaultConfigFile
    const json = yield* readConfig(file, config !== undefined).pipe(
      Effect.mapError((error) =>
        config === undefined && error.detail.startsWith("not a URL")
          ? usage(`no <server> given, and there is no ${file} here to read the servers from (give a <server>, or --config <file>)`)
          : error
      )
    )
    return yield* serversOf(json, path.basename(file) === file ? file : path.normalize(file), environment)
  })

const redactAll = (headers: Readonly<Record<string, string>>): Record<string, Redacted.Redacted<string>> =>
  Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, Redacted.make(value)]))

/** @internal */
export const transport = (
  spec: ServerSpec
): McpTransport.McpTransport<CommandExecutor.CommandExecutor | HttpClient.HttpClient> => {
  switch (spec._tag) {
    case "Stdio":
      return NodeMcpTransport.stdio({
        command: spec.command,
        args: spec.args,
        env: spec.env,
        cwd: spec.cwd,
        inheritEnv: spec.inheritEnv,
        ...(spec.name !== undefined ? { description: `stdio: ${spec.name} (${spec.command})` } : {})
      })
    case "StreamableHttp":
      return NodeMcpTransport.streamableHttp({ url: spec.url, headers: redactAll(spec.headers) })
    case "Sse":
      return NodeMcpTransport.sse({ url: spec.url, headers: redactAll(spec.headers) })
  }
}

/** Origin and path only: a URL may carry credentials or tokens in its user info or query. */
const safeUrl = (url: string): string => {
  const parsed = new URL(url)
  return `${parsed.origin}${parsed.pathname}`
}

/** @internal */
export const describe = (spec: ServerSpec): string => {
  const named = spec.name !== undefined ? `${spec.name}: ` : ""
  switch (spec._tag) {
    case "Stdio":
      return `${named}stdio ${[spec.command, ...spec.args].join(" ")}`
    case "StreamableHttp":
      return `${named}${safeUrl(spec.url)} (Streamable HTTP)`
    case "Sse":
      return `${named}${safeUrl(spec.url)} (SSE)`
  }
}
