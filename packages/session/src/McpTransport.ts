/**
 * How to open a transport to an MCP server, and how it reports its death.
 *
 * An `McpTransport` is a recipe, not a connection: every session (and every rebuild of a resilient
 * session) opens it anew in its own `Scope`. An opened transport is an Effect protocol, as `@effect/rpc`'s
 * `RpcClient.Protocol` is: messages go out through `Connection.send`, and come in through
 * `Control.receive`; how it died, or that one of its responses failed alone, is told through `Control`.
 *
 * @since 0.1.0
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/transport.js"
import type { TransportCrashed, TransportCrashedReason } from "./McpError.js"

/**
 * @since 0.1.0
 * @category models
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category models
 */
export type TypeId = typeof TypeId

/**
 * @since 0.1.0
 * @category models
 */
export interface McpTransport<out R = never> {
  readonly [TypeId]: TypeId
  /** Shown in errors, logs and spans: never contains secrets. */
  readonly description: string
  /**
   * Opens the transport in the current scope, which owns everything it starts: closing the scope closes
   * the transport. Messages the server sends go to `control.receive` from the moment it opens.
   */
  readonly open: (control: McpTransport.Control) => Effect.Effect<McpTransport.Connection, TransportCrashed, Scope.Scope | R>
}

/**
 * @since 0.1.0
 */
export declare namespace McpTransport {
  /**
   * An open transport.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Connection {
    /**
     * Hands one message to the transport. It never waits for the server: it completes once the message is
     * on its way (written to the child's stdin, its POST started), and fails only when the message cannot
     * leave (the transport is dead or closing), which proves it was not delivered. What happens to it
     * later is reported through `Control`.
     */
    readonly send: (message: JSONRPCMessage, options?: McpTransport.SendOptions) => Effect.Effect<void, TransportCrashed>
    /**
     * Cancels a request the caller gave up on by closing it, on transports that can (a Streamable HTTP POST):
     * 2026-07-28's cancellation over such a transport. Under the other versions the session sends
     * `notifications/cancelled` instead. A transport that has it is also one whose silence before the
     * handshake says nothing of the server's era.
     */
    readonly interrupt?: ((id: RequestId) => Effect.Effect<void>) | undefined
    /** The transport carries only the versions with an `initialize` handshake (legacy SSE). */
    readonly legacyOnly?: boolean | undefined
    /** The session id the server assigned, on transports that have one (legacy Streamable HTTP). */
    readonly sessionId?: (() => string | undefined) | undefined
    /** Told the negotiated protocol version, for transports whose wire depends on it (HTTP headers, session ids). */
    readonly setProtocolVersion?: ((version: string) => void) | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface SendOptions {
    /**
     * The MCP headers of the message (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`,
     * lower-cased), for transports that carry headers (Streamable HTTP under 2026-07-28).
     */
    readonly headers?: Readonly<Record<string, string>> | undefined
  }

  /**
   * What a transport tells the session. Each method is synchronous and never throws: transports call it
   * from their read paths, in the order things happen.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Control {
    /**
     * A message from the server (a parsed JSON value; the session validates it). A JSON-RPC batch is handed
     * over item by item.
     */
    readonly receive: (message: unknown) => void
    /** Declares the transport dead, with a reason. The first reason reported wins. */
    readonly crash: (reason: TransportCrashedReason, cause?: unknown) => void
    /** Whether the transport has been declared dead. */
    readonly isCrashed: () => boolean
    /**
     * Fails the pending requests with these JSON-RPC ids with `TransportCrashed { reason }`, while the
     * transport lives on: for when the part of the transport that was to carry their answers failed alone,
     * e.g. an HTTP response that ended without them, from a server that is still there. Whether they were
     * delivered follows from the reason (`McpError.isNotDeliveredReason`). Ids of requests no longer pending
     * are ignored; nothing happens once the transport is dead. To fail some requests as not delivered and
     * then end the transport, call this first, then `crash`.
     */
    readonly failRequests: (ids: ReadonlyArray<RequestId>, reason: TransportCrashedReason, cause?: unknown) => void
  }
}

/**
 * A transport from its `open`. `open` runs in the session's scope: register finalizers for whatever it
 * starts.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <R = never>(options: {
  readonly description: string
  readonly open: (control: McpTransport.Control) => Effect.Effect<McpTransport.Connection, TransportCrashed, Scope.Scope | R>
}) => McpTransport<R> = internal.make

/**
 * Any transport of the official SDK (WebSocket, a custom one) as an `McpTransport`. `acquire` makes the
 * SDK transport, not yet started; the session starts it and closes it with its scope, the close bounded
 * by `closeTimeout` (default 2 seconds). `classify` decides whether an error the SDK transport reports
 * (through `onerror` or a rejected `send`) is fatal, and why; without it, only `onclose` ends the
 * transport, and a rejected `send` is a `ConnectionFailed`. A rejected `start` is always fatal.
 *
 * @example
 * ```ts
 * import { McpTransport } from "@effect-mcp/session"
 * import { WebSocketClientTransport } from "@modelcontextprotocol/sdk/client/websocket.js"
 * import { Effect } from "effect"
 *
 * const transport = McpTransport.fromSdk({
 *   description: "websocket: ws://127.0.0.1:8080",
 *   acquire: Effect.sync(() => new WebSocketClientTransport(new URL("ws://127.0.0.1:8080")))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSdk: <R = never>(options: {
  readonly description: string
  readonly acquire: Effect.Effect<Transport, TransportCrashed, Scope.Scope | R>
  readonly classify?: ((error: unknown, during: "send" | "background") => TransportCrashedReason | undefined) | undefined
  readonly closeTimeout?: Duration.DurationInput | undefined
}) => McpTransport<R> = internal.fromSdk

/**
 * An in-memory transport linked to an SDK `McpServer`. `server` is called once per opening (an `McpServer`
 * serves one transport at a time), and the server is closed with the transport. Useful for tests and for
 * embedding a server in the same process.
 *
 * @since 0.1.0
 * @category constructors
 */
export const inMemory: (
  server: () => McpServer,
  options?: { readonly description?: string | undefined }
) => McpTransport = internal.inMemory

/**
 * @since 0.1.0
 * @category guards
 */
export const isMcpTransport: (u: unknown) => u is McpTransport<unknown> = internal.isMcpTransport
