/**
 * Both sides of every measure, opened the same way: this library's sessions (`McpSession.make`,
 * `McpSession.makeResilient`) and the raw SDK `Client` over its stock transports.
 *
 * @since 0.1.0
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as HttpClient from "@effect/platform/HttpClient"
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import { McpError, McpSession, McpTransport } from "@effect-mcp/session"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { echoServer, serverEverything, watchPreload } from "./Servers.js"

/**
 * @since 0.1.0
 * @category models
 */
export const clientInfo = { name: "effect-mcp-bench", version: "0.1.0" }

/**
 * The transports a measure may run on.
 *
 * @since 0.1.0
 * @category models
 */
export type TransportKind = "in-memory" | "stdio" | "streamable-http" | "sse"

/**
 * What the benchmarks need from the environment: a `CommandExecutor` for stdio, an `HttpClient` for HTTP.
 *
 * @since 0.1.0
 * @category models
 */
export type Env = CommandExecutor.CommandExecutor | HttpClient.HttpClient

/**
 * @since 0.1.0
 * @category models
 */
export type Session = McpSession.McpSession.Service

/**
 * The `echo` call every per-call measure makes.
 *
 * @since 0.1.0
 * @category models
 */
export const echo = { name: "echo", arguments: { message: "hello" } }

/**
 * server-everything over stdio: its arguments, and with `watchPort` the preload and environment that connect
 * it to a `watchChild` (so the benchmark sees when the OS closed its sockets and pipes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const stdioServer = (watchPort?: number): {
  readonly args: Array<string>
  readonly env?: Record<string, string>
} =>
  watchPort === undefined
    ? { args: [serverEverything, "stdio"] }
    : {
      args: ["--import", watchPreload, serverEverything, "stdio"],
      env: { EFFECT_MCP_BENCH_WATCH_PORT: String(watchPort) }
    }

// ---------------------------------------------------------------------------------------------------------
// This library
// ---------------------------------------------------------------------------------------------------------

/**
 * This library's transport of a kind (`url` for the HTTP kinds).
 *
 * @since 0.1.0
 * @category constructors
 */
export const libraryTransport = (kind: TransportKind, url?: string, watchPort?: number): McpTransport.McpTransport<Env> => {
  switch (kind) {
    case "in-memory":
      return McpTransport.inMemory(echoServer)
    case "stdio":
      return NodeMcpTransport.stdio({ command: process.execPath, ...stdioServer(watchPort) })
    case "streamable-http":
      return NodeMcpTransport.streamableHttp({ url: url! })
    case "sse":
      return NodeMcpTransport.sse({ url: url! })
  }
}

/**
 * A plain session (`McpSession.make`) in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const librarySession = (
  kind: TransportKind,
  url?: string,
  options?: { readonly requestTimeout?: number | undefined; readonly watchPort?: number | undefined }
): Effect.Effect<Session, never, Scope.Scope | Env> =>
  McpSession.make({
    transport: libraryTransport(kind, url, options?.watchPort),
    clientInfo,
    requestTimeout: options?.requestTimeout ?? 60_000
  }).pipe(Effect.orDie)

/**
 * An in-memory transport to the echo server whose current connection the benchmark can close, as a peer
 * hanging up would (the SDK transport's `close`, which the session sees as `onclose`). Unlike
 * `McpTest.faulty` it records nothing, so it adds no memory of its own across crash/rebuild cycles.
 *
 * @since 0.1.0
 * @category constructors
 */
export const closableInMemory = (): {
  readonly transport: McpTransport.McpTransport
  readonly close: Effect.Effect<void>
} => {
  const inner = McpTransport.inMemory(echoServer)
  let current: McpTransport.McpTransport.Control | undefined
  return {
    transport: McpTransport.make<never>({
      description: inner.description,
      open: (control) => Effect.tap(inner.open(control), () => void (current = control))
    }),
    close: Effect.sync(() => current?.crash(new McpError.Closed({ detail: "closed by the transport" })))
  }
}

// ---------------------------------------------------------------------------------------------------------
// The raw SDK
// ---------------------------------------------------------------------------------------------------------

/**
 * A raw SDK transport of a kind, with the server it is linked to for in-memory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const rawTransport = async (kind: TransportKind, url?: string, watchPort?: number): Promise<Transport> => {
  switch (kind) {
    case "in-memory": {
      const [client, server] = InMemoryTransport.createLinkedPair()
      await echoServer().connect(server)
      return client
    }
    case "stdio":
      return new StdioClientTransport({ command: process.execPath, ...stdioServer(watchPort), stderr: "ignore" })
    case "streamable-http":
      return new StreamableHTTPClientTransport(new URL(url!))
    case "sse":
      return new SSEClientTransport(new URL(url!))
  }
}

/**
 * A connected raw SDK `Client`, as a user of the SDK writes it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connectRaw = async (
  kind: TransportKind,
  url?: string,
  watchPort?: number
): Promise<{ client: Client; transport: Transport }> => {
  const transport = await rawTransport(kind, url, watchPort)
  const client = new Client(clientInfo, { capabilities: {} })
  await client.connect(transport)
  return { client, transport }
}

/**
 * Closes a raw client, bounded (its stdio transport waits up to 2 s for the child, then signals it).
 *
 * @since 0.1.0
 * @category combinators
 */
export const closeRaw = (client: Client): Effect.Effect<void> =>
  Effect.promise(() => client.close().catch(() => {})).pipe(Effect.timeoutOption("5 seconds"), Effect.asVoid)

/**
 * A connected raw client in the current scope, closed with it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const rawClient = (
  kind: TransportKind,
  url?: string
): Effect.Effect<{ client: Client; transport: Transport }, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => connectRaw(kind, url)),
    ({ client }) => closeRaw(client)
  )

/**
 * The PID of a raw stdio transport's child (`null` for other transports or before it started).
 *
 * @since 0.1.0
 * @category combinators
 */
export const pidOf = (transport: Transport): number | null =>
  transport instanceof StdioClientTransport ? transport.pid : null

/**
 * The raw `callTool` of `echo`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const rawEcho = (client: Client): Promise<CallToolResult> => client.callTool(echo) as Promise<CallToolResult>
