/**
 * How to open a transport to an MCP server, and how it reports its death.
 *
 * An `McpTransport` is a recipe, not a connection: every session (and every rebuild of a resilient
 * session) opens it anew in its own `Scope`.
 *
 * @since 0.1.0
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
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
   * Opens the transport in the current scope. The SDK transport it returns is not yet started: the session
   * starts it. `control.crash` lets the transport report a precise reason of death (exit code, HTTP status)
   * the moment it knows it; `control.failRequests` fails only some requests, when the transport lives on.
   */
  readonly open: (control: McpTransport.Control) => Effect.Effect<McpTransport.Connection, TransportCrashed, Scope.Scope | R>
}

/**
 * @since 0.1.0
 */
export declare namespace McpTransport {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Connection {
    /** The SDK transport, not yet started. */
    readonly transport: Transport
    /**
     * Decides whether an error reported by the SDK transport (through `onerror` or a rejected `send`) is
     * fatal, and why. `undefined`: not fatal, logged. Without it, only `onclose` and `control.crash` kill
     * the transport, and a rejected `send` is a `ConnectionFailed`. A rejected `start` is always fatal: it is
     * classified as during `"send"`, and is a `ConnectionFailed { beforeSend: true }` when unclassified.
     */
    readonly classify?: ((error: unknown, during: "send" | "background") => TransportCrashedReason | undefined) | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Control {
    /** Declares the transport dead, with a reason. The first reason reported wins. */
    readonly crash: (reason: TransportCrashedReason, cause?: unknown) => void
    /** Whether the transport has been declared dead. */
    readonly isCrashed: () => boolean
    /**
     * Fails the pending requests with these JSON-RPC ids with `TransportCrashed { reason }`, while the
     * transport lives on: for when the part of the transport that was to carry their answers failed alone,
     * e.g. an HTTP response that ended without them, from a server that is still there. The other requests
     * and the session are untouched. Ids of requests no longer pending are ignored; nothing happens once the
     * transport is dead.
     */
    readonly failRequests: (ids: ReadonlyArray<string | number>, reason: TransportCrashedReason, cause?: unknown) => void
  }
}

/**
 * Any SDK transport as an `McpTransport`. `acquire` runs in the session's scope: register finalizers for
 * whatever it starts.
 *
 * @example
 * ```ts
 * import { McpTransport } from "@effect-mcp/session"
 * import { WebSocketClientTransport } from "@modelcontextprotocol/sdk/client/websocket.js"
 * import { Effect } from "effect"
 *
 * const transport = McpTransport.make({
 *   description: "websocket: ws://127.0.0.1:8080",
 *   acquire: () => Effect.sync(() => ({ transport: new WebSocketClientTransport(new URL("ws://127.0.0.1:8080")) }))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <R = never>(options: {
  readonly description: string
  readonly acquire: (control: McpTransport.Control) => Effect.Effect<McpTransport.Connection, TransportCrashed, Scope.Scope | R>
}) => McpTransport<R> = internal.make

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
