import * as FileSystem from "@effect/platform/FileSystem"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as HttpClient from "@effect/platform/HttpClient"
import { McpServers, McpSessionPool } from "@effect-mcp/session"
import type { McpTransport } from "@effect-mcp/session"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as NodeMcpTransport from "../NodeMcpTransport.js"

type Secrets = Readonly<Record<string, Redacted.Redacted<string>>>

/** The identity's headers replace the entry's of the same name, whatever its case. */
const mergeHeaders = (own: Secrets, extra: Secrets | undefined): Record<string, Redacted.Redacted<string>> => {
  const out: Record<string, Redacted.Redacted<string>> = { ...own }
  for (const [name, value] of Object.entries(extra ?? {})) {
    for (const existing of Object.keys(out)) if (existing.toLowerCase() === name.toLowerCase()) delete out[existing]
    out[name] = value
  }
  return out
}

/** @internal */
export const transport = (
  server: McpServers.Server,
  identity?: McpSessionPool.Identity
): McpTransport.McpTransport<CommandExecutor.CommandExecutor | HttpClient.HttpClient> => {
  switch (server._tag) {
    case "Stdio": {
      const env: Record<string, string> = {}
      for (const [name, value] of Object.entries({ ...server.env, ...identity?.env })) env[name] = Redacted.value(value)
      return NodeMcpTransport.stdio({
        command: server.command,
        args: server.args,
        env,
        cwd: server.cwd,
        // the arguments may hold expanded secrets: the description names the entry and the command only
        description: `stdio: ${server.name} (${server.command})`
      })
    }
    case "StreamableHttp":
      return NodeMcpTransport.streamableHttp({ url: server.url, headers: mergeHeaders(server.headers, identity?.headers) })
    case "Sse":
      return NodeMcpTransport.sse({ url: server.url, headers: mergeHeaders(server.headers, identity?.headers) })
  }
}

/** @internal */
export const fromFile = (
  path: string,
  options?: McpServers.McpServers.LoadOptions
): Effect.Effect<McpServers.McpServers, ConfigError.ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError((error) => ConfigError.SourceUnavailable([], `cannot read ${path}: ${error.message}`, Cause.fail(error)))
    )
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) => ConfigError.InvalidData([], `${path} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`)
    })
    return yield* McpServers.fromJson(json, options).pipe(
      Effect.mapError((error) => ConfigError.prefixed(error, [path]))
    )
  })

/** @internal */
export const layerPool = (
  options: Omit<McpSessionPool.McpSessionPool.Options, "transport">
): Layer.Layer<McpSessionPool.McpSessionPool, never, CommandExecutor.CommandExecutor | HttpClient.HttpClient> =>
  McpSessionPool.layer({ ...options, transport })
