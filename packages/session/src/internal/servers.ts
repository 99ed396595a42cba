import * as Config from "effect/Config"
import * as McpSession from "../McpSession.js"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Api from "../McpServers.js"
import * as McpSessionPolicy from "../McpSessionPolicy.js"

type Server = Api.Server

/** A number is milliseconds; otherwise what `Duration.decode` reads ("30 seconds", "500 millis"). */
const duration = (name: string): Config.Config<Option.Option<Duration.Duration>> =>
  Config.option(Config.string(name).pipe(Config.mapOrFail((text) => {
    const trimmed = text.trim()
    if (/^\d+(\.\d+)?$/.test(trimmed)) return Either.right(Duration.millis(Number(trimmed)))
    return Option.match(Duration.decodeUnknown(trimmed), {
      onNone: () =>
        Either.left(ConfigError.InvalidData([], `Expected a duration such as "30 seconds" or a number of milliseconds, but received "${text}"`)),
      onSome: Either.right
    })
  })))

const nonNegative = (name: string) =>
  Config.option(Config.integer(name).pipe(
    Config.validate({ message: "Expected a non-negative integer", validation: (n) => n >= 0 })
  ))

const keepAlive: Config.Config<Option.Option<McpSessionPolicy.KeepAlive | false>> = Config.option(
  Config.boolean("keepAlive").pipe(
    Config.map((on): McpSessionPolicy.KeepAlive | false => on ? McpSessionPolicy.defaultKeepAlive : false),
    Config.orElse((): Config.Config<McpSessionPolicy.KeepAlive | false> =>
      Config.all({
        interval: Config.duration("interval"),
        timeout: Config.duration("timeout").pipe(Config.withDefault(Duration.decode(McpSessionPolicy.defaultKeepAlive.timeout))),
        maxMissed: Config.integer("maxMissed").pipe(
          Config.validate({ message: "Expected a positive integer", validation: (n) => n > 0 }),
          Config.withDefault(McpSessionPolicy.defaultKeepAlive.maxMissed)
        )
      }).pipe(Config.nested("keepAlive"))
    )
  )
)

const entry = Config.all({
  type: Config.option(Config.literal("stdio", "http", "streamable-http", "streamableHttp", "sse")("type")),
  command: Config.option(Config.string("command")),
  args: Config.array(Config.string(), "args").pipe(Config.withDefault([] as Array<string>)),
  env: Config.hashMap(Config.redacted(), "env").pipe(Config.withDefault(HashMap.empty())),
  cwd: Config.option(Config.string("cwd")),
  url: Config.option(Config.string("url")),
  headers: Config.hashMap(Config.redacted(), "headers").pipe(Config.withDefault(HashMap.empty())),
  prefix: Config.option(Config.string("prefix").pipe(
    Config.validate({ message: "Expected letters, digits, '_' or '-'", validation: (p) => /^[A-Za-z0-9_-]+$/.test(p) })
  )),
  protocolVersion: Config.option(Config.literal("auto", ...McpSession.protocolVersions)("protocolVersion")),
  requestTimeout: duration("requestTimeout"),
  closeTimeout: duration("closeTimeout"),
  maxPages: Config.option(Config.integer("maxPages").pipe(
    Config.validate({ message: "Expected a positive integer", validation: (n) => n > 0 })
  )),
  replay: Config.option(Config.literal("NotDelivered", "Idempotent", "Always", "Never")("replay")),
  maxReplays: nonNegative("maxReplays"),
  whileReconnecting: Config.option(Config.literal("wait", "fail")("whileReconnecting")),
  maxWait: duration("maxWait"),
  keepAlive,
  maxRetryAfter: duration("maxRetryAfter"),
  resetAfter: duration("resetAfter")
})

type Entry = Config.Config.Success<typeof entry>

const invalid = (path: ReadonlyArray<string>, message: string) => ConfigError.InvalidData([...path], message)

const toServer = (name: string, e: Entry, key: string): Either.Either<Server, ConfigError.ConfigError> => {
  const at = [key, name]
  const overrides: Record<string, unknown> = {}
  for (
    const field of [
      "requestTimeout",
      "closeTimeout",
      "maxPages",
      "replay",
      "maxReplays",
      "whileReconnecting",
      "maxWait",
      "keepAlive",
      "maxRetryAfter",
      "resetAfter"
    ] as const
  ) {
    const value: Option.Option<unknown> = e[field]
    if (Option.isSome(value)) overrides[field] = value.value
  }
  const common = {
    name,
    prefix: Option.getOrUndefined(e.prefix),
    protocolVersion: Option.getOrUndefined(e.protocolVersion),
    overrides: overrides as Api.Overrides
  }
  const type = Option.getOrUndefined(e.type)
  if (Option.isSome(e.command) && Option.isSome(e.url)) {
    return Either.left(invalid(at, `give either "command" (stdio) or "url" (HTTP), not both`))
  }
  if (Option.isSome(e.command)) {
    if (type !== undefined && type !== "stdio") {
      return Either.left(invalid([...at, "type"], `"${type}" needs a "url", but the server has a "command"`))
    }
    if (e.command.value.length === 0) return Either.left(invalid([...at, "command"], "Expected a command, but received an empty string"))
    if (HashMap.size(e.headers) > 0) return Either.left(invalid([...at, "headers"], "headers apply to HTTP servers only"))
    return Either.right({
      _tag: "Stdio",
      ...common,
      command: e.command.value,
      args: e.args,
      env: Object.fromEntries(HashMap.toEntries(e.env)),
      cwd: Option.getOrUndefined(e.cwd)
    })
  }
  if (Option.isSome(e.url)) {
    if (type === "stdio") return Either.left(invalid([...at, "type"], `"stdio" needs a "command", but the server has a "url"`))
    if (HashMap.size(e.env) > 0) return Either.left(invalid([...at, "env"], "env applies to stdio servers only"))
    if (e.args.length > 0) return Either.left(invalid([...at, "args"], "args apply to stdio servers only"))
    return Either.right({
      _tag: type === "sse" ? "Sse" : "StreamableHttp",
      ...common,
      url: e.url.value,
      headers: Object.fromEntries(HashMap.toEntries(e.headers))
    })
  }
  return Either.left(invalid(at, `needs either "command" (stdio) or "url" (HTTP)`))
}

/** @internal */
export const config = (key = "mcpServers"): Config.Config<Api.McpServers> =>
  Config.hashMap(entry, key).pipe(
    Config.mapOrFail((map) => {
      const servers: Array<Server> = []
      for (const [name, e] of HashMap.toEntries(map)) {
        const server = toServer(name, e, key)
        if (Either.isLeft(server)) return Either.left(server.left)
        servers.push(server.right)
      }
      servers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      return Either.right(servers)
    })
  )

// ---------------------------------------------------------------------------------------------------------
// ${VAR} expansion, validation after it
// ---------------------------------------------------------------------------------------------------------

const variable = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g
const hasVariable = /\$\{[A-Za-z_][A-Za-z0-9_]*\}/

const expand = (
  value: string,
  path: ReadonlyArray<string>,
  lookup: (name: string) => Effect.Effect<Option.Option<string>, ConfigError.ConfigError>
): Effect.Effect<string, ConfigError.ConfigError> => {
  const names = [...value.matchAll(variable)].map((m) => m[1]!)
  if (names.length === 0) return Effect.succeed(value)
  return Effect.gen(function*() {
    const values = new Map<string, string>()
    for (const name of names) {
      if (values.has(name)) continue
      const found = yield* lookup(name)
      if (Option.isNone(found)) {
        return yield* Effect.fail(invalid(path, `refers to \${${name}}, which is not set`))
      }
      values.set(name, found.value)
    }
    return value.replace(variable, (_, name: string) => values.get(name)!)
  })
}

const expandRedacted = (
  record: Readonly<Record<string, Redacted.Redacted<string>>>,
  path: ReadonlyArray<string>,
  lookup: (name: string) => Effect.Effect<Option.Option<string>, ConfigError.ConfigError>
) =>
  Effect.gen(function*() {
    const out: Record<string, Redacted.Redacted<string>> = {}
    for (const [name, value] of Object.entries(record)) {
      const raw = Redacted.value(value)
      out[name] = hasVariable.test(raw) ? Redacted.make(yield* expand(raw, [...path, name], lookup)) : value
    }
    return out
  })

/**
 * What makes a header value unusable, if anything: RFC 9110 field values are visible ASCII, obs-text,
 * spaces and tabs. The value is never quoted: it may be a secret.
 */
const invalidHeaderValue = (value: string): string | undefined => {
  const bad = /[^\t\x20-\x7e\x80-\xff]/.exec(value)
  if (bad === null) return undefined
  const code = bad[0].charCodeAt(0)
  return code === 0x0a
    ? "a line feed"
    : code === 0x0d
    ? "a carriage return"
    : `the character U+${code.toString(16).toUpperCase().padStart(4, "0")}`
}

const checkUrl = (url: string, path: ReadonlyArray<string>): Either.Either<string, ConfigError.ConfigError> => {
  try {
    const parsed = new URL(url)
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      return Either.left(invalid(path, `Expected an http(s) URL, but received a ${parsed.protocol} URL`))
    }
    return Either.right(parsed.toString())
  } catch {
    // the URL is not quoted: its query may hold a token
    return Either.left(invalid(path, "Expected a valid http(s) URL"))
  }
}

const resolveServer = (
  server: Server,
  key: string,
  lookup: (name: string) => Effect.Effect<Option.Option<string>, ConfigError.ConfigError>
): Effect.Effect<Server, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const at = [key, server.name]
    if (server._tag === "Stdio") {
      const args: Array<string> = []
      for (const [i, arg] of server.args.entries()) args.push(yield* expand(arg, [...at, "args", String(i)], lookup))
      const cwd = server.cwd !== undefined ? yield* expand(server.cwd, [...at, "cwd"], lookup) : undefined
      return {
        ...server,
        command: yield* expand(server.command, [...at, "command"], lookup),
        args,
        env: yield* expandRedacted(server.env, [...at, "env"], lookup),
        cwd
      }
    }
    const url = yield* checkUrl(yield* expand(server.url, [...at, "url"], lookup), [...at, "url"])
    const headers = yield* expandRedacted(server.headers, [...at, "headers"], lookup)
    for (const [name, value] of Object.entries(headers)) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
        return yield* Effect.fail(invalid([...at, "headers"], `"${name}" is not a valid header name`))
      }
      const bad = invalidHeaderValue(Redacted.value(value))
      if (bad !== undefined) {
        return yield* Effect.fail(invalid([...at, "headers", name], `the value may not contain ${bad} (only visible characters, spaces and tabs)`))
      }
    }
    return { ...server, url, headers }
  })

/** @internal */
export const load = (options?: Api.McpServers.LoadOptions): Effect.Effect<Api.McpServers, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const key = options?.key ?? "mcpServers"
    const raw = yield* config(key)
    const environment = options?.environment ?? ConfigProvider.fromEnv()
    const lookup = (name: string) => environment.load(Config.option(Config.string(name)))
    return yield* Effect.forEach(raw, (server) => resolveServer(server, key, lookup))
  })

/** An empty array or object would reach `Config` as a value ("<nil>"): it means absent. */
const normalize = (json: unknown): unknown => {
  if (Array.isArray(json)) return json.length === 0 ? undefined : json.map(normalize)
  if (typeof json === "object" && json !== null) {
    const out: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(json)) {
      const normalized = normalize(value)
      if (normalized !== undefined && normalized !== null) out[key] = normalized
    }
    return Object.keys(out).length === 0 ? undefined : out
  }
  return json
}

/** @internal */
export const fromJson = (
  json: unknown,
  options?: Api.McpServers.LoadOptions
): Effect.Effect<Api.McpServers, ConfigError.ConfigError> => {
  const key = options?.key ?? "mcpServers"
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return Effect.fail(invalid([], `Expected a JSON object with "${key}"`))
  }
  if (!Object.hasOwn(json, key) || typeof (json as Record<string, unknown>)[key] !== "object") {
    return Effect.fail(ConfigError.MissingData([key], `Expected "${key}": an object of servers`))
  }
  for (const [name, entry] of Object.entries((json as Record<string, object>)[key]!)) {
    // an entry that is not an object, or is empty, would not reach Config at all
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      return Effect.fail(invalid([key, name], "Expected an object"))
    }
    if (normalize(entry) === undefined) return Effect.fail(invalid([key, name], `needs either "command" (stdio) or "url" (HTTP)`))
  }
  const normalized = normalize(json) ?? {}
  return Effect.withConfigProvider(load(options), ConfigProvider.fromJson(normalized))
}

// ---------------------------------------------------------------------------------------------------------
// Using an entry
// ---------------------------------------------------------------------------------------------------------

/** @internal */
export const policy = (
  server: Server,
  base: McpSessionPolicy.McpSessionPolicy = McpSessionPolicy.defaultPolicy
): McpSessionPolicy.McpSessionPolicy => {
  const o = server.overrides
  return {
    ...base,
    ...(o.replay !== undefined ? { replay: o.replay } : {}),
    ...(o.maxReplays !== undefined ? { maxReplays: o.maxReplays } : {}),
    ...(o.whileReconnecting !== undefined ? { whileReconnecting: o.whileReconnecting } : {}),
    ...(o.maxWait !== undefined ? { maxWait: o.maxWait } : {}),
    ...(o.keepAlive !== undefined ? { keepAlive: o.keepAlive === false ? undefined : o.keepAlive } : {}),
    ...(o.maxRetryAfter !== undefined ? { maxRetryAfter: o.maxRetryAfter } : {}),
    ...(o.resetAfter !== undefined ? { resetAfter: o.resetAfter } : {})
  }
}

/** @internal */
export const sessionOptions = (server: Server) => {
  const o = server.overrides
  return {
    ...(o.requestTimeout !== undefined ? { requestTimeout: o.requestTimeout } : {}),
    ...(o.closeTimeout !== undefined ? { closeTimeout: o.closeTimeout } : {}),
    ...(o.maxPages !== undefined ? { maxPages: o.maxPages } : {}),
    ...(server.protocolVersion !== undefined ? { protocolVersion: server.protocolVersion } : {})
  }
}

/** @internal */
export const safeUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    return `${parsed.origin}${parsed.pathname}`
  } catch {
    return "(invalid URL)"
  }
}

/** @internal */
export const describe = (server: Server): string => {
  switch (server._tag) {
    case "Stdio":
      return `${server.name}: stdio ${server.command}`
    case "StreamableHttp":
      return `${server.name}: ${safeUrl(server.url)} (Streamable HTTP)`
    case "Sse":
      return `${server.name}: ${safeUrl(server.url)} (SSE)`
  }
}
