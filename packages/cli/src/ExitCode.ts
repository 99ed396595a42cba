/**
 * The exit codes of `mcp-session`: one per kind of outcome, so a script can tell a tool that said no from
 * a server that died.
 *
 * @since 0.1.0
 */
import type { McpError } from "@effect-mcp/session"
import type { UsageError } from "./CliError.js"

/**
 * | code | meaning |
 * | --- | --- |
 * | 0 | success |
 * | 1 | the tool ran and reported an error (`isError: true`) |
 * | 2 | usage error: bad arguments, unknown server name, unreadable config file, invalid JSON |
 * | 3 | transport crash: the server died, could not be reached or started, and the retries gave up |
 * | 4 | timeout: no answer within `--timeout`, or no answer to the handshake within `--connect-timeout` |
 * | 5 | protocol error: the server answered with a JSON-RPC error, refused the handshake or cancelled |
 * | 70 | internal error (a bug: please report it) |
 * | 130 | interrupted (Ctrl-C) |
 *
 * @since 0.1.0
 * @category models
 */
export const ExitCode = {
  Success: 0,
  ToolError: 1,
  UsageError: 2,
  TransportCrashed: 3,
  Timeout: 4,
  ProtocolError: 5,
  Internal: 70,
  Interrupted: 130
} as const

/**
 * @since 0.1.0
 * @category models
 */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode]

/**
 * The exit code for an error: `GaveUp` counts as the crash that made the session give up.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromError = (error: McpError.McpError | UsageError): ExitCode => {
  switch (error._tag) {
    case "UsageError":
      return ExitCode.UsageError
    case "ToolError":
      return ExitCode.ToolError
    case "TransportCrashed":
      return ExitCode.TransportCrashed
    case "RequestTimeout":
      return ExitCode.Timeout
    case "InitializeFailed":
      return error.reason === "Timeout" ? ExitCode.Timeout : ExitCode.ProtocolError
    case "ProtocolError":
    case "InputRequired":
    case "Cancelled":
      return ExitCode.ProtocolError
    case "GaveUp":
      return error.lastError._tag === "TransportCrashed"
        ? ExitCode.TransportCrashed
        : error.lastError.reason === "Timeout"
        ? ExitCode.Timeout
        : ExitCode.ProtocolError
  }
}
