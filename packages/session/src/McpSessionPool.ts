/**
 * Resilient sessions shared between callers: one per configured server and identity, built on first use,
 * shared by reference count, closed after an idle time to live, bounded in number.
 *
 * An identity is the credentials a session is opened with (headers, environment, an OAuth subject). Its
 * key in the pool is a keyed digest (HMAC-SHA-256 with a key made for the pool): not reversible, never
 * logged, and two callers share a session only if they present the same credentials.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/pool.js"
import type { GaveUp } from "./McpError.js"
import type { McpServers, Server } from "./McpServers.js"
import type { ClientCapabilities } from "@modelcontextprotocol/sdk/types.js"
import type { Lifecycle, McpSession as McpSessionNs } from "./McpSession.js"
import type { McpSessionPolicy } from "./McpSessionPolicy.js"
import type { McpTransport } from "./McpTransport.js"

/**
 * @since 0.1.0
 * @category models
 */
export const IdentityTypeId: unique symbol = internal.IdentityTypeId

/**
 * @since 0.1.0
 * @category models
 */
export type IdentityTypeId = typeof IdentityTypeId

/**
 * The credentials a session is opened with, and their digest. Made by `McpSessionPool.Service.identity`;
 * make it once per user and keep it (the digest costs a hash). Printing, logging or serializing it shows
 * neither the credentials nor the digest.
 *
 * @since 0.1.0
 * @category models
 */
export interface Identity {
  readonly [IdentityTypeId]: IdentityTypeId
  /** Headers added to (and overriding) the server's own, for HTTP servers. */
  readonly headers: Readonly<Record<string, Redacted.Redacted<string>>>
  /** Variables added to (and overriding) the server's own, for stdio servers. */
  readonly env: Readonly<Record<string, Redacted.Redacted<string>>>
  /** An OAuth identity (e.g. issuer and subject), for a transport factory that authenticates per user. */
  readonly subject: string | undefined
}

/**
 * A session of the pool, held for as long as the scope it was taken in.
 *
 * @since 0.1.0
 * @category models
 */
export interface Lease {
  readonly server: Server
  readonly session: McpSessionNs.Service
  readonly lifecycle: Lifecycle["Type"]
}

/**
 * @since 0.1.0
 * @category errors
 */
export class PoolError extends Schema.TaggedError<PoolError>("@effect-mcp/session/PoolError")("PoolError", {
  reason: Schema.Literal("UnknownServer", "Exhausted"),
  server: Schema.String,
  detail: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  get message(): string {
    return this.reason === "UnknownServer"
      ? `no server named "${this.server}" is configured${this.detail.length > 0 ? ` (${this.detail})` : ""}`
      : `the pool is full: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isPoolError = (u: unknown): u is PoolError => u instanceof PoolError

/**
 * @since 0.1.0
 * @category tags
 */
export class McpSessionPool extends Context.Tag("@effect-mcp/session/McpSessionPool")<
  McpSessionPool,
  McpSessionPool.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace McpSessionPool {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    readonly servers: McpServers
    /** The anonymous identity: the servers' own credentials only. */
    readonly anonymous: Identity
    /** An identity from credentials (plain or `Redacted` values). */
    readonly identity: (input: IdentityInput) => Effect.Effect<Identity>
    /**
     * The session of `server` for `identity` (default: `anonymous`), built if there is none, held until the
     * scope closes. Fails with `GaveUp` if it could not be built (the next `get` tries again), with
     * `PoolError` for an unknown server or a full pool.
     */
    readonly get: (server: string, identity?: Identity | undefined) => Effect.Effect<Lease, PoolError | GaveUp, Scope.Scope>
    /** Runs `f` with the session, held for its duration. */
    readonly use: <A, E, R>(
      server: string,
      identity: Identity | undefined,
      f: (session: McpSessionNs.Service) => Effect.Effect<A, E, R>
    ) => Effect.Effect<A, E | PoolError | GaveUp, R>
    /** Closes the session at once if idle, else as its last holder lets it go; the next `get` builds anew. */
    readonly invalidate: (server: string, identity?: Identity | undefined) => Effect.Effect<void>
    /** Sessions open or being built, how many are held, how many idle. */
    readonly stats: Effect.Effect<Stats>
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface IdentityInput {
    readonly headers?: Readonly<Record<string, string | Redacted.Redacted<string>>> | undefined
    readonly env?: Readonly<Record<string, string | Redacted.Redacted<string>>> | undefined
    readonly subject?: string | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Stats {
    readonly sessions: number
    readonly inUse: number
    readonly idle: number
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options<R = never> {
    readonly servers: McpServers
    /** How to reach a server with an identity's credentials (a platform's, e.g. `NodeMcpServers.transport`). */
    readonly transport: (server: Server, identity: Identity) => McpTransport<R>
    readonly clientInfo: { readonly name: string; readonly version: string }
    readonly capabilities?: ClientCapabilities | undefined
    /** The sessions' `requestTimeout` where a server's entry does not override it. Default: 60 seconds. */
    readonly requestTimeout?: Duration.DurationInput | undefined
    /** The policy each server's overrides apply to. Default: `McpSessionPolicy.defaultPolicy`. */
    readonly policy?: McpSessionPolicy | undefined
    /** How long a session nobody holds stays open. Default: 5 minutes. */
    readonly idleTimeToLive?: Duration.DurationInput | undefined
    /**
     * Bound on the sessions open or being built. At the bound, a new session first closes the session idle
     * the longest; when every session is held, `get` waits for one to be let go (`whenFull: "wait"`, the
     * default, up to `maxWait`) or fails at once (`"fail"`), with `PoolError { reason: "Exhausted" }`.
     * Default: 1000.
     */
    readonly maxSessions?: number | undefined
    readonly whenFull?: "wait" | "fail" | undefined
    /** Bound on a wait at the bound. Default: 30 seconds. */
    readonly maxWait?: Duration.DurationInput | undefined
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: <R = never>(
  options: McpSessionPool.Options<R>
) => Effect.Effect<McpSessionPool.Service, never, Scope.Scope | R> = internal.make

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: <R = never>(options: McpSessionPool.Options<R>) => Layer.Layer<McpSessionPool, never, R> =
  internal.layer

/**
 * @since 0.1.0
 * @category guards
 */
export const isIdentity: (u: unknown) => u is Identity = internal.isIdentity
