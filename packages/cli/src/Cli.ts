/**
 * The `mcp-session` command line: `tools`, `resources`, `prompts`, `call`, `ping`, `watch` and `demo`,
 * each on a resilient `McpSession`, with exit codes that tell the kinds of failure apart (`ExitCode`).
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type { ExitCode } from "./ExitCode.js"
import * as internal from "./internal/cli.js"

/**
 * What running the command line requires: `NodeContext.layer` (files, paths, terminal, child processes),
 * an `HttpClient` and an `Output`.
 *
 * @since 0.1.0
 * @category models
 */
export type Environment = internal.Environment

/**
 * The program's name, `mcp-session`.
 *
 * @since 0.1.0
 * @category models
 */
export const name: string = internal.name

/**
 * @since 0.1.0
 * @category models
 */
export const version: string = internal.version

/**
 * Runs a command line (the arguments only, without `node` and the script) and returns its exit code. It
 * never fails: every error is reported on the `Output` and mapped to its exit code.
 *
 * `-- command args` at the end names a stdio server in place of `<server>`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run: (argv: ReadonlyArray<string>) => Effect.Effect<ExitCode, never, Environment> = internal.run
