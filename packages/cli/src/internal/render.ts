import type { McpError } from "@effect-mcp/session"
import type { CallToolResult, Progress } from "@modelcontextprotocol/sdk/types.js"
import type { UsageError } from "../CliError.js"
import type { Output } from "../Output.js"

/** `3.2 ms`, `840 ms`, `1.24 s`. */
export const millis = (ms: number): string =>
  ms < 10 ? `${ms.toFixed(1)} ms` : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`

/** Rounded to 0.1 ms, for JSON. */
export const round = (ms: number): number => Math.round(ms * 10) / 10

const codes = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39]
} as const

/** Paints with ANSI colors when the output wants them. */
export type Paint = { readonly [K in keyof typeof codes]: (text: string) => string }

export const paint = (color: boolean): Paint =>
  Object.fromEntries(
    Object.entries(codes).map(([name, [open, close]]) => [
      name,
      (text: string) => (color ? `\x1b[${open}m${text}\x1b[${close}m` : text)
    ])
  ) as unknown as Paint

export const truncate = (text: string, width: number): string =>
  width <= 1 ? "" : text.length > width ? `${text.slice(0, width - 1)}…` : text

export const firstLine = (text: string | undefined): string => (text ?? "").split("\n")[0]!.trim()

// ---------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------

type AnyError = McpError.McpError | UsageError

const reasonJson = (reason: McpError.TransportCrashedReason): Record<string, unknown> => ({
  ...reason,
  _tag: reason._tag,
  description: reason.description
})

/** The error as plain JSON: its tag, message and fields; `reason` for a crash (the last crash for `GaveUp`). */
export const errorJson = (error: AnyError): Record<string, unknown> => {
  switch (error._tag) {
    case "UsageError":
      return { _tag: error._tag, message: error.message }
    case "TransportCrashed":
      return {
        _tag: error._tag,
        message: error.message,
        transport: error.transport,
        reason: reasonJson(error.reason),
        ...(error.delivery !== undefined ? { delivery: error.delivery } : {})
      }
    case "RequestTimeout":
      return {
        _tag: error._tag,
        message: error.message,
        method: error.method,
        ...(error.target !== undefined ? { target: error.target } : {}),
        timeoutMillis: error.timeoutMillis
      }
    case "ProtocolError":
      return {
        _tag: error._tag,
        message: error.message,
        method: error.method,
        code: error.code,
        detail: error.detail,
        ...(error.data !== undefined ? { data: error.data } : {})
      }
    case "ToolError":
      return { _tag: error._tag, message: error.message, toolName: error.toolName, detail: error.detail }
    case "Cancelled":
      return { _tag: error._tag, message: error.message, method: error.method, detail: error.detail }
    case "InputRequired":
      return {
        _tag: error._tag,
        message: error.message,
        method: error.method,
        ...(error.target !== undefined ? { target: error.target } : {}),
        ...(error.inputRequests !== undefined ? { inputRequests: error.inputRequests } : {})
      }
    case "InitializeFailed":
      return { _tag: error._tag, message: error.message, transport: error.transport, detail: error.detail }
    case "GaveUp": {
      const last = errorJson(error.lastError)
      return {
        _tag: error._tag,
        message: error.message,
        transport: error.transport,
        attempts: error.attempts,
        lastError: last,
        ...(last.reason !== undefined ? { reason: last.reason } : {})
      }
    }
  }
}

/** One line for a person: what failed and why. */
export const errorLine = (error: AnyError): string => {
  switch (error._tag) {
    case "UsageError":
      return error.message
    case "TransportCrashed":
      return `TransportCrashed (${error.reason._tag}): ${error.message}${
        error.delivery === "MaybeDelivered" ? " — the request may have reached the server" : ""
      }`
    case "GaveUp":
      return `GaveUp after ${error.attempts} attempt(s): ${attemptLine(error.lastError)}`
    default:
      return `${error._tag}: ${error.message}`
  }
}

/** A failed attempt to connect: whether "the request" was delivered does not matter there. */
export const attemptLine = (error: McpError.TransportCrashed | McpError.InitializeFailed): string =>
  error._tag === "TransportCrashed" ? `TransportCrashed (${error.reason._tag}): ${error.message}` : errorLine(error)

// ---------------------------------------------------------------------------------------------------------
// Tool results and progress
// ---------------------------------------------------------------------------------------------------------

/** The content of a tool result as text lines: text as it is, the rest summarized. */
export const contentLines = (result: CallToolResult): Array<string> => {
  const lines: Array<string> = []
  for (const item of result.content ?? []) {
    switch (item.type) {
      case "text":
        lines.push(item.text)
        break
      case "image":
      case "audio":
        lines.push(`[${item.type} ${item.mimeType}, ${Math.round((item.data.length * 3) / 4)} bytes]`)
        break
      case "resource":
        lines.push(
          "text" in item.resource && typeof item.resource.text === "string"
            ? item.resource.text
            : `[resource ${item.resource.uri}${item.resource.mimeType !== undefined ? ` ${item.resource.mimeType}` : ""}]`
        )
        break
      case "resource_link":
        lines.push(`[resource link ${item.uri}${item.name.length > 0 ? ` (${item.name})` : ""}]`)
        break
      default:
        lines.push(JSON.stringify(item))
    }
  }
  if (result.structuredContent !== undefined && lines.length === 0) {
    lines.push(JSON.stringify(result.structuredContent, null, 2))
  }
  return lines
}

const bar = (fraction: number, width: number): string => {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)))
  return `${"█".repeat(filled)}${"░".repeat(width - filled)}`
}

/**
 * Shows progress notifications: a bar redrawn in place on a terminal, a plain line per notification
 * elsewhere.
 */
export const progressReporter = (output: Output.Service, label: string) => (progress: Progress): void => {
  const total = progress.total
  const count = total !== undefined ? `${progress.progress}/${total}` : `${progress.progress}`
  const message = progress.message !== undefined ? ` ${progress.message}` : ""
  if (output.isTTY) {
    const p = paint(output.color)
    const fraction = total !== undefined && total > 0 ? progress.progress / total : undefined
    const head = `${p.cyan("…")} ${label} `
    const gauge = fraction !== undefined ? `${bar(fraction, 24)} ${Math.round(fraction * 100)}% ` : ""
    output.transient(truncate(`${head}${gauge}${count}${message}`, output.columns - 1))
  } else {
    output.stderr(`progress ${count}${message}`)
  }
}
