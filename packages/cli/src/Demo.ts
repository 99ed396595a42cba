/**
 * The demo behind `pnpm demo` and `mcp-session demo`: starts server-everything on a free port of
 * 127.0.0.1, connects through a resilient session over Streamable HTTP, calls a few tools, kills the server
 * (SIGKILL by PID) in the middle of a long call, shows the typed crash and how fast it was detected,
 * restarts the server on the same port and shows the session rebuilding itself, then stops everything it
 * started. Everything runs in the caller's scope: interrupting it (Ctrl-C) leaves no process behind.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type { McpError } from "@effect-mcp/session"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { ServerFailed } from "./EverythingServer.js"
import * as internal from "./internal/demo.js"
import type { Output } from "./Output.js"

/**
 * Something in the demo did not go as it should (e.g. the call succeeded although its server was killed).
 *
 * @since 0.1.0
 * @category errors
 */
export type DemoFailed = internal.DemoFailed

/**
 * Runs the demo, printing its timeline on `Output`'s stdout.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run: (options?: { readonly port?: number | undefined }) => Effect.Effect<
  void,
  DemoFailed | ServerFailed | McpError.McpError,
  Scope.Scope | HttpClient.HttpClient | Output
> = (options) => internal.run({ port: options?.port })
