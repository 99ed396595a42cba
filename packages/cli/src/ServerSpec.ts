/**
 * Which MCP server to talk to, as a command line names it: a URL (Streamable HTTP, or legacy SSE with
 * `--sse`), a command after `--` (stdio), or a name from an `mcpServers` config file.
 *
 * @since 0.1.0
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Path from "@effect/platform/Path"
import type { McpTransport } from "@effect-mcp/session"
import type * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type { UsageError } from "./CliError.js"
import * as internal from "./internal/serverSpec.js"

/**
 * A resolved server: how to open a transport to it. Header and environment values may be secrets: they
 * are handed to the transport as `Redacted` and never printed.
 *
 * @since 0.1.0
 * @category models
 */
export type ServerSpec = Data.TaggedEnum<{
  Stdio: {
    readonly command: string
    readonly args: ReadonlyArray<string>
    readonly env: Readonly<Record<string, string>>
    readonly cwd: string | undefined
    /** Pass the whole parent environment to the child (default: a safe set, plus `env`). */
    readonly inheritEnv: boolean
    /** The name in the config file, if it came from one. */
    readonly name: string | undefined
  }
  StreamableHttp: {
    readonly url: string
    readonly headers: Readonly<Record<string, string>>
    readonly name: string | undefined
  }
  Sse: {
    readonly url: string
    readonly headers: Readonly<Record<string, string>>
    readonly name: string | undefined
  }
}>

/**
 * @since 0.1.0
 * @category constructors
 */
export const Stdio = internal.Stdio

/**
 * @since 0.1.0
 * @category constructors
 */
export const StreamableHttp = internal.StreamableHttp

/**
 * @since 0.1.0
 * @category constructors
 */
export const Sse = internal.Sse

/**
 * @since 0.1.0
 */
export declare namespace ServerSpec {
  /**
   * What the command line said about the server.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Input {
    /** The `<server>` argument: a URL or a config name. */
    readonly server: string | undefined
    /** The command and arguments after `--`. */
    readonly stdio: ReadonlyArray<string> | undefined
    /** `--sse`: the URL is a legacy HTTP+SSE endpoint. */
    readonly sse: boolean
    /** `--header "Name: value"`, repeated. */
    readonly headers: ReadonlyArray<string>
    /** `--env NAME=value`, repeated (stdio only). */
    readonly env: ReadonlyArray<string>
    /** `--inherit-env` (stdio only). */
    readonly inheritEnv: boolean
    /** `--config path`; default: `.mcp.json` in the working directory, when a name is given. */
    readonly config: string | undefined
  }
}

/**
 * The config file read when `--config` is not given and the server is a name.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultConfigFile = ".mcp.json"

/**
 * Resolves what the command line said into a `ServerSpec`, reading the config file if a name was given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve: (
  input: ServerSpec.Input
) => Effect.Effect<ServerSpec, UsageError, FileSystem.FileSystem | Path.Path> = internal.resolve

/**
 * The entry `name` of a parsed config file (`{ "mcpServers": { name: { command, args, env } | { url,
 * headers, type } } }`). `${VAR}` in `args`, `env`, `url` and `headers` is replaced by the environment
 * variable `VAR`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromConfig: (
  config: unknown,
  name: string,
  source: string,
  environment?: Readonly<Record<string, string | undefined>>
) => Either.Either<ServerSpec, UsageError> = internal.fromConfig

/**
 * Parses `Name: value` (as curl's `-H`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseHeader: (header: string) => Either.Either<readonly [string, string], UsageError> = internal.parseHeader

/**
 * The transport for a server: stdio needs a `CommandExecutor`, HTTP an `HttpClient`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const transport: (
  spec: ServerSpec
) => McpTransport.McpTransport<CommandExecutor.CommandExecutor | HttpClient.HttpClient> = internal.transport

/**
 * A short description for people: no header values, no environment values.
 *
 * @since 0.1.0
 * @category models
 */
export const describe: (spec: ServerSpec) => string = internal.describe
