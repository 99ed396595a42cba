import type { Tool } from "@modelcontextprotocol/sdk/types.js"
import { SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js"

/**
 * What each protocol version changes on the wire, in one place.
 *
 * @internal
 */
export const modernVersions: ReadonlyArray<string> = ["2026-07-28"]

/** @internal */
export const latestModern = "2026-07-28"

/**
 * The versions of the `initialize` handshake, newest first (the SDK's list, which also keeps 2024-10-07).
 *
 * @internal
 */
export const legacyVersions: ReadonlyArray<string> = SUPPORTED_PROTOCOL_VERSIONS

/** @internal */
export const isModern = (version: string | undefined): boolean => version !== undefined && modernVersions.includes(version)

/** @internal */
export const metaKeys = {
  protocolVersion: "io.modelcontextprotocol/protocolVersion",
  clientCapabilities: "io.modelcontextprotocol/clientCapabilities",
  clientInfo: "io.modelcontextprotocol/clientInfo",
  logLevel: "io.modelcontextprotocol/logLevel",
  serverInfo: "io.modelcontextprotocol/serverInfo"
} as const

/** @internal */
export const errorCodes = {
  headerMismatch: -32020,
  missingRequiredClientCapability: -32021,
  unsupportedProtocolVersion: -32022
} as const

/**
 * The methods whose `Mcp-Name` header names their target (SEP-2243), and which field holds it.
 *
 * @internal
 */
export const nameField: Readonly<Record<string, "name" | "uri">> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri"
}

/** Plain visible ASCII, space and tab inside: what a header value may carry as it is. */
const plainHeaderValue = /^[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?$/
const base64Sentinel = /^=\?base64\?.*\?=$/

/**
 * A value as an MCP header value: as it is when it is plain ASCII without surrounding whitespace, else
 * `=?base64?…?=` of its UTF-8 bytes (SEP-2243). The empty string stays empty.
 *
 * @internal
 */
export const encodeHeaderValue = (value: string): string =>
  value === "" || (plainHeaderValue.test(value) && !base64Sentinel.test(value))
    ? value
    : `=?base64?${btoa(String.fromCharCode(...new TextEncoder().encode(value)))}?=`

/** RFC 9110 `token`. */
const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** Where one `x-mcp-header` parameter is read from in a tool's arguments. */
export interface HeaderParameter {
  readonly header: string
  readonly path: ReadonlyArray<string>
}

/**
 * The `x-mcp-header` parameters of a tool, or why the tool must be rejected: an annotation that is empty,
 * not a token, repeated (case-insensitively), on a property that is not a string, integer or boolean, or
 * not reachable through `properties` alone (SEP-2243).
 *
 * @internal
 */
export const headerParameters = (tool: Tool): { readonly parameters: ReadonlyArray<HeaderParameter> } | { readonly invalid: string } => {
  const parameters: Array<HeaderParameter> = []
  const seen = new Set<string>()
  let invalid: string | undefined
  const visit = (schema: unknown, path: ReadonlyArray<string>, reachable: boolean): void => {
    if (invalid !== undefined || typeof schema !== "object" || schema === null) return
    const record = schema as Record<string, unknown>
    if ("x-mcp-header" in record && path.length > 0) {
      const header = record["x-mcp-header"]
      if (typeof header !== "string" || header === "") invalid = `an empty x-mcp-header at ${path.join(".")}`
      else if (!token.test(header)) invalid = `x-mcp-header ${JSON.stringify(header)} is not a header name`
      else if (seen.has(header.toLowerCase())) invalid = `x-mcp-header ${header} appears twice`
      else if (!reachable) invalid = `x-mcp-header ${header} is not reachable through properties alone`
      else if (record.type !== "string" && record.type !== "integer" && record.type !== "boolean") {
        invalid = `x-mcp-header ${header} is on a property that is not a string, integer or boolean`
      } else {
        seen.add(header.toLowerCase())
        parameters.push({ header, path })
      }
    }
    for (const [key, value] of Object.entries(record)) {
      if (key === "properties" && typeof value === "object" && value !== null) {
        for (const [name, property] of Object.entries(value)) visit(property, [...path, name], reachable)
      } else if (key !== "x-mcp-header" && typeof value === "object" && value !== null) {
        // annotations under items, anyOf, $defs...: not statically reachable
        if (Array.isArray(value)) for (const item of value) visit(item, path, false)
        else visit(value, path, false)
      }
    }
  }
  visit(tool.inputSchema, [], true)
  return invalid !== undefined ? { invalid } : { parameters }
}

/**
 * The `Mcp-Param-*` headers of a call, from its arguments: a value absent or `null` sends none.
 *
 * @internal
 */
export const parameterHeaders = (
  parameters: ReadonlyArray<HeaderParameter>,
  args: unknown,
  headers: Record<string, string>
): void => {
  for (const { header, path } of parameters) {
    let value: unknown = args
    for (const key of path) value = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined
    if (value === undefined || value === null) continue
    headers[`mcp-param-${header.toLowerCase()}`] = encodeHeaderValue(typeof value === "string" ? value : String(value))
  }
}
