/**
 * `McpServers` entries on Node: each entry's transport (stdio, Streamable HTTP or legacy SSE, with an
 * identity's credentials on top of the entry's own), a config file read through `Config`, and the pool
 * over them.
 *
 * @since 0.1.0
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import type { McpServers, McpSessionPool, McpTransport } from "@effect-mcp/session"
import type * as ConfigError from "effect/ConfigError"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as internal from "./internal/servers.js"

/**
 * The transport to a configured server, with the identity's headers (HTTP) or environment (stdio) added
 * to the entry's, replacing those of the same name (header names compared without case). A stdio child
 * gets the safe default environment plus the entry's `env`, not the parent's whole environment.
 *
 * @since 0.1.0
 * @category constructors
 */
export const transport: (
  server: McpServers.Server,
  identity?: McpSessionPool.Identity | undefined
) => McpTransport.McpTransport<CommandExecutor.CommandExecutor | HttpClient.HttpClient> = internal.transport

/**
 * Reads an `mcpServers` JSON file (Claude Desktop, Cursor, `.mcp.json`; VS Code's with `key: "servers"`).
 * A file that cannot be read or is not JSON fails with a `ConfigError` naming the file.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromFile: (
  path: string,
  options?: McpServers.McpServers.LoadOptions
) => Effect.Effect<McpServers.McpServers, ConfigError.ConfigError, FileSystem.FileSystem> = internal.fromFile

/**
 * `McpSessionPool.layer` with `transport` for its transports.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPool: (
  options: Omit<McpSessionPool.McpSessionPool.Options, "transport">
) => Layer.Layer<McpSessionPool.McpSessionPool, never, CommandExecutor.CommandExecutor | HttpClient.HttpClient> =
  internal.layerPool
