/**
 * The `mcpServers` configuration that Claude Desktop, VS Code and Cursor share, read through `Config`:
 *
 * ```json
 * { "mcpServers": {
 *     "files":  { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "${HOME}"] },
 *     "github": { "url": "https://api.githubcopilot.com/mcp/", "headers": { "Authorization": "Bearer ${GITHUB_TOKEN}" },
 *                 "requestTimeout": "30 seconds", "replay": "Idempotent" } } }
 * ```
 *
 * Platform-agnostic: a server entry says how to reach the server; a platform package (e.g.
 * `@effect-mcp/platform-node`'s `NodeMcpServers.transport`) turns it into an `McpTransport`. Header and
 * environment values are `Redacted`, and no error quotes one.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as ConfigProvider from "effect/ConfigProvider"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as internal from "./internal/servers.js"
import type { McpSession, ProtocolVersion } from "./McpSession.js"
import type { KeepAlive, McpSessionPolicy, ReplayRule } from "./McpSessionPolicy.js"

/**
 * A server's overrides of the session options and the resilience policy, from its entry: `requestTimeout`,
 * `closeTimeout`, `maxPages`, `replay`, `maxReplays`, `whileReconnecting`, `maxWait`, `keepAlive` (`false`,
 * `true` for the default, or `{ interval, timeout?, maxMissed? }`), `maxRetryAfter`, `resetAfter`. Durations are strings such as
 * `"30 seconds"` or numbers of milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export interface Overrides {
  readonly requestTimeout?: Duration.Duration | undefined
  readonly closeTimeout?: Duration.Duration | undefined
  readonly maxPages?: number | undefined
  readonly replay?: ReplayRule | undefined
  readonly maxReplays?: number | undefined
  readonly whileReconnecting?: "wait" | "fail" | undefined
  readonly maxWait?: Duration.Duration | undefined
  readonly keepAlive?: KeepAlive | false | undefined
  readonly maxRetryAfter?: Duration.Duration | undefined
  readonly resetAfter?: Duration.Duration | undefined
}

/**
 * What every entry may carry besides how to reach the server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Common {
  /** The entry's key in `mcpServers`. */
  readonly name: string
  /** The prefix of its tools in an `McpToolset` (default: the name). */
  readonly prefix: string | undefined
  /**
   * The protocol version the entry's sessions speak (`protocolVersion`: `"auto"`, the default, or one of
   * `McpSession.protocolVersions`), as `McpSession.Options.protocolVersion`.
   */
  readonly protocolVersion: "auto" | ProtocolVersion | undefined
  readonly overrides: Overrides
}

/**
 * A server run as a child process (`command`, `args`, `env`, `cwd`; `type` absent or `"stdio"`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Stdio extends Common {
  readonly _tag: "Stdio"
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, Redacted.Redacted<string>>>
  readonly cwd: string | undefined
}

/**
 * A server over HTTP (`url`, `headers`): Streamable HTTP (`type` absent, `"http"`, `"streamable-http"` or
 * `"streamableHttp"`), or legacy HTTP+SSE (`type: "sse"`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Http extends Common {
  readonly _tag: "StreamableHttp" | "Sse"
  readonly url: string
  readonly headers: Readonly<Record<string, Redacted.Redacted<string>>>
}

/**
 * @since 0.1.0
 * @category models
 */
export type Server = Stdio | Http

/**
 * The configured servers, ordered by name.
 *
 * @since 0.1.0
 * @category models
 */
export type McpServers = ReadonlyArray<Server>

/**
 * @since 0.1.0
 */
export declare namespace McpServers {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface LoadOptions {
    /** The key that holds the servers. Default: `"mcpServers"` (VS Code's files use `"servers"`). */
    readonly key?: string | undefined
    /**
     * Where `${VAR}` in `command`, `args`, `env`, `cwd`, `url` and `headers` is looked up. Default:
     * `ConfigProvider.fromEnv()`. An unset variable fails with a `ConfigError` naming the server, the field
     * and the variable.
     */
    readonly environment?: ConfigProvider.ConfigProvider | undefined
  }
}

/**
 * The servers as `Config` reads them, before `${VAR}` expansion: each entry is checked (either `command` or
 * `url`, a known `type`, well-formed overrides), and an invalid one fails with `ConfigError.InvalidData`
 * at its path (`mcpServers.<name>.<field>`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const config: (key?: string) => Config.Config<McpServers> = internal.config

/**
 * Reads the servers from the current `ConfigProvider` and expands `${VAR}`.
 *
 * @example
 * ```ts
 * import { McpServers } from "@effect-mcp/session"
 * import { ConfigProvider, Effect } from "effect"
 *
 * const servers = McpServers.load().pipe(
 *   Effect.withConfigProvider(ConfigProvider.fromJson({ mcpServers: { echo: { command: "mcp-echo" } } }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const load: (options?: McpServers.LoadOptions) => Effect.Effect<McpServers, ConfigError.ConfigError> = internal.load

/**
 * Reads the servers from a parsed JSON document (a config file's content, or a plain object). An empty
 * array or object, or `null`, counts as absent.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromJson: (
  json: unknown,
  options?: McpServers.LoadOptions
) => Effect.Effect<McpServers, ConfigError.ConfigError> = internal.fromJson

/**
 * The resilience policy of a server: `base` (default `McpSessionPolicy.defaultPolicy`) with the entry's
 * overrides.
 *
 * @since 0.1.0
 * @category combinators
 */
export const policy: (server: Server, base?: McpSessionPolicy) => McpSessionPolicy = internal.policy

/**
 * The session options an entry overrides (`requestTimeout`, `closeTimeout`, `maxPages`, `protocolVersion`), to
 * spread into `McpSession.Options`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const sessionOptions: (
  server: Server
) => Pick<McpSession.Options, "requestTimeout" | "closeTimeout" | "maxPages" | "protocolVersion"> = internal.sessionOptions

/**
 * A description for people and logs: the name and the command, or the URL's origin and path (no query,
 * no credentials, no header or environment value).
 *
 * @since 0.1.0
 * @category models
 */
export const describe: (server: Server) => string = internal.describe
