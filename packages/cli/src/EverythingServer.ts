/**
 * The reference MCP server, `@modelcontextprotocol/server-everything`, run as a child process on a port of
 * 127.0.0.1 (a preloaded shim keeps it off the other interfaces): the demo's embedded default, and a real
 * server for tests. The process is a scoped resource:
 * when the scope closes it is stopped (SIGTERM, then SIGKILL, each bounded), whatever happened.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/everything.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface EverythingServer {
  readonly pid: number
  readonly port: number
  readonly transport: EverythingServer.Transport
  /** Where to connect: `http://127.0.0.1:<port>/mcp` (or `/sse`). */
  readonly url: string
  /** Sends `signal` (default SIGKILL) to the process by PID and waits for it to exit (bounded). */
  readonly kill: (signal?: NodeJS.Signals) => Effect.Effect<void>
  /** Whether the process is still running. */
  readonly isAlive: Effect.Effect<boolean>
}

/**
 * @since 0.1.0
 */
export declare namespace EverythingServer {
  /**
   * @since 0.1.0
   * @category models
   */
  export type Transport = "streamableHttp" | "sse"

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** An integer from 1 to 65535 (anything else fails with `ServerFailed`). Default: a free port of 127.0.0.1. */
    readonly port?: number | undefined
    /** Default: `"streamableHttp"`. */
    readonly transport?: Transport | undefined
    /** Bound on the wait for `listening on port N`. Default: 20 seconds. */
    readonly startTimeout?: Duration.DurationInput | undefined
  }
}

/**
 * The server could not be started (port in use, missing package, no readiness line in time).
 *
 * @since 0.1.0
 * @category errors
 */
export class ServerFailed extends Schema.TaggedError<ServerFailed>("@effect-mcp/cli/ServerFailed")("ServerFailed", {
  detail: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  get message(): string {
    return `server-everything: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isServerFailed = (u: unknown): u is ServerFailed => Predicate.isTagged(u, "ServerFailed") && u instanceof ServerFailed

/**
 * The server's entry point (`dist/index.js`), resolved from this package's dependencies.
 *
 * @since 0.1.0
 * @category constructors
 */
export const entryPoint: () => string = internal.entryPoint

/**
 * A port of 127.0.0.1 that was free a moment ago.
 *
 * @since 0.1.0
 * @category constructors
 */
export const freePort: Effect.Effect<number, ServerFailed> = internal.freePort

/**
 * Starts the server and waits until it listens. It runs until the scope closes, or until `kill`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start: (
  options?: EverythingServer.Options
) => Effect.Effect<EverythingServer, ServerFailed, Scope.Scope> = internal.start
