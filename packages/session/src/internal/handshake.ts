import { DiscoverResultSchema, ImplementationSchema } from "@modelcontextprotocol/core"
import type { ClientCapabilities, Implementation, JSONRPCMessage, ServerCapabilities } from "@modelcontextprotocol/sdk/types.js"
import { InitializeResultSchema, LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import * as McpError from "../McpError.js"
import type { McpTransport } from "../McpTransport.js"
import type { Engine } from "./engine.js"
import * as Protocol from "./protocol.js"

/**
 * Who the server is and what it does, as the handshake found out.
 *
 * @internal
 */
export interface Handshake {
  readonly protocolVersion: string
  readonly serverInfo: Implementation
  readonly capabilities: ServerCapabilities
  readonly instructions: string | undefined
}

/** @internal */
export interface HandshakeOptions {
  readonly engine: Engine
  readonly connection: McpTransport.Connection
  readonly description: string
  /** `"auto"`, or the one version to speak. */
  readonly protocolVersion: string
  readonly clientInfo: Implementation
  readonly capabilities: ClientCapabilities
  /** The bound on the whole handshake. */
  readonly timeoutMillis: number
  /** The time on the session's Clock, in milliseconds. */
  readonly now: () => number
  /**
   * A silent answer to `server/discover` says the server is a legacy one (a child process or an in-process
   * server); the probe then has half of the handshake's time, and `initialize` the rest.
   */
  readonly silenceIsLegacy: boolean
}

const failed = (options: HandshakeOptions, reason: "Timeout" | "Rejected" | "Invalid", detail: string, cause?: unknown) =>
  new McpError.InitializeFailed({
    transport: options.description,
    reason,
    detail,
    ...(cause !== undefined ? { cause } : {})
  })

/**
 * The `_meta` every request carries under 2026-07-28.
 *
 * @internal
 */
export const envelope = (
  version: string,
  clientInfo: Implementation,
  capabilities: ClientCapabilities
): Record<string, unknown> => ({
  [Protocol.metaKeys.protocolVersion]: version,
  [Protocol.metaKeys.clientCapabilities]: capabilities,
  [Protocol.metaKeys.clientInfo]: clientInfo
})

/**
 * The headers of a 2026-07-28 request over HTTP (SEP-2243); other transports ignore them.
 *
 * @internal
 */
export const requestHeaders = (version: string, method: string, params: Record<string, unknown> | undefined) => {
  const headers: Record<string, string> = { "mcp-protocol-version": version, "mcp-method": method }
  const field = Protocol.nameField[method]
  const name = field === undefined ? undefined : params?.[field]
  if (typeof name === "string") headers["mcp-name"] = Protocol.encodeHeaderValue(name)
  return headers
}

type Outcome =
  | { readonly _tag: "Modern"; readonly handshake: Handshake }
  | { readonly _tag: "Retry"; readonly version: string }
  | { readonly _tag: "Legacy"; readonly version: string }

/**
 * `server/discover`, and what its outcome says of the server's era: a DiscoverResult is a modern server;
 * -32022 with a list of versions names the ones to use; anything else is a legacy server (the spec forbids
 * keying the fallback to one error code).
 */
const discover = (
  options: HandshakeOptions,
  version: string,
  retried: boolean,
  timeoutMillis: number
): Effect.Effect<Outcome, McpError.TransportCrashed | McpError.InitializeFailed> => {
  const params = { _meta: envelope(version, options.clientInfo, options.capabilities) }
  return options.engine.request("server/discover", params, Effect.succeed, {
    timeoutMillis,
    headers: requestHeaders(version, "server/discover", params)
  }).pipe(
    Effect.matchEffect({
      onSuccess: (result): Effect.Effect<Outcome, McpError.InitializeFailed> => {
        const parsed = DiscoverResultSchema.safeParse(result)
        if (!parsed.success) return Effect.succeed({ _tag: "Legacy", version: LATEST_PROTOCOL_VERSION })
        const supported = parsed.data.supportedVersions
        const mutual = Protocol.modernVersions.find((v) => supported.includes(v))
        if (mutual === undefined) {
          const legacy = Protocol.legacyVersions.find((v) => supported.includes(v))
          return legacy !== undefined
            ? Effect.succeed({ _tag: "Legacy", version: legacy })
            : Effect.fail(failed(options, "Invalid", `no protocol version in common: the server speaks ${supported.join(", ")}`))
        }
        if (mutual !== version) return Effect.succeed({ _tag: "Retry", version: mutual })
        const meta = (result as { _meta?: Record<string, unknown> })._meta
        // the spec puts it in _meta; some servers answer it at the top level
        const info = ImplementationSchema.safeParse(meta?.[Protocol.metaKeys.serverInfo] ?? (result as { serverInfo?: unknown }).serverInfo)
        return Effect.succeed({
          _tag: "Modern",
          handshake: {
            protocolVersion: version,
            serverInfo: info.success ? info.data : { name: "unknown", version: "unknown" },
            capabilities: parsed.data.capabilities as ServerCapabilities,
            instructions: parsed.data.instructions
          }
        })
      },
      onFailure: (error): Effect.Effect<Outcome, McpError.TransportCrashed | McpError.InitializeFailed> => {
        switch (error._tag) {
          case "ProtocolError": {
            if (error.code === Protocol.errorCodes.unsupportedProtocolVersion) {
              const supported = (error.data as { supported?: unknown } | undefined)?.supported
              if (Array.isArray(supported)) {
                const mutual = Protocol.modernVersions.find((v) => supported.includes(v))
                // once: a server may reject the first request whatever it names
                if (mutual !== undefined && !retried) return Effect.succeed({ _tag: "Retry", version: mutual })
                const legacy = Protocol.legacyVersions.find((v) => supported.includes(v))
                if (legacy !== undefined) return Effect.succeed({ _tag: "Legacy", version: legacy })
                return Effect.fail(failed(options, "Invalid", `no protocol version in common: the server speaks ${supported.join(", ")}`, error))
              }
            }
            return Effect.succeed({ _tag: "Legacy", version: LATEST_PROTOCOL_VERSION })
          }
          case "RequestTimeout":
            return options.silenceIsLegacy
              ? Effect.succeed({ _tag: "Legacy", version: LATEST_PROTOCOL_VERSION })
              : Effect.fail(failed(options, "Timeout", `no answer to server/discover within ${error.timeoutMillis} ms`))
          case "TransportCrashed": {
            // a 4xx that failed the probe alone, the transport alive: a legacy server's refusal. Not a refusal
            // of credentials, nor an endpoint that is not there (permanent), nor a 5xx (the server's trouble,
            // not its era)
            const reason = error.reason
            if (
              reason._tag === "HttpStatus" && reason.status >= 400 && reason.status < 500 && reason.retryable &&
              options.engine.crashed === undefined
            ) return Effect.succeed({ _tag: "Legacy", version: LATEST_PROTOCOL_VERSION })
            return Effect.fail(error)
          }
          default:
            return Effect.fail(failed(options, "Invalid", error.message, error))
        }
      }
    })
  )
}

const initialize = (
  options: HandshakeOptions,
  offered: string,
  pinned: boolean,
  timeoutMillis: number
): Effect.Effect<Handshake, McpError.TransportCrashed | McpError.InitializeFailed> =>
  options.engine.request(
    "initialize",
    { protocolVersion: offered, capabilities: options.capabilities, clientInfo: options.clientInfo },
    Effect.succeed,
    { timeoutMillis }
  ).pipe(
    Effect.catchAll((error): Effect.Effect<never, McpError.TransportCrashed | McpError.InitializeFailed> => {
      switch (error._tag) {
        case "TransportCrashed":
          return Effect.fail(error)
        case "RequestTimeout":
          return Effect.fail(failed(options, "Timeout", `no answer to initialize within ${error.timeoutMillis} ms`))
        case "ProtocolError":
          // a modern-only server names the versions it speaks: none of the handshake's
          return Effect.fail(
            failed(options, error.code === Protocol.errorCodes.unsupportedProtocolVersion ? "Invalid" : "Rejected", error.detail, error)
          )
        default:
          return Effect.fail(failed(options, "Invalid", error.message, error))
      }
    }),
    Effect.flatMap((result) => {
      const parsed = InitializeResultSchema.safeParse(result)
      if (!parsed.success) return Effect.fail(failed(options, "Invalid", `invalid result from server: ${parsed.error.message}`))
      const version = parsed.data.protocolVersion
      if (!Protocol.legacyVersions.includes(version) || (pinned && version !== offered)) {
        return Effect.fail(failed(options, "Invalid", `the server's protocol version is not supported: ${version}`))
      }
      return Effect.succeed<Handshake>({
        protocolVersion: version,
        serverInfo: parsed.data.serverInfo,
        capabilities: parsed.data.capabilities,
        instructions: parsed.data.instructions
      })
    }),
    Effect.tap((handshake) =>
      Effect.suspend(() => {
        options.connection.setProtocolVersion?.(handshake.protocolVersion)
        return options.engine.send({ jsonrpc: "2.0", method: "notifications/initialized" } as JSONRPCMessage)
      })
    )
  )

/**
 * The handshake. `"auto"` prefers 2026-07-28 (`server/discover`) and falls back to `initialize`, which
 * takes the newest version the server accepts down to 2024-11-05; a pinned version speaks only that one.
 * A transport that carries only the legacy versions (legacy SSE) goes straight to `initialize`.
 *
 * @internal
 */
export const handshake = (options: HandshakeOptions): Effect.Effect<Handshake, McpError.TransportCrashed | McpError.InitializeFailed> =>
  Effect.suspend(() => {
    const pin = options.protocolVersion
    const total = options.timeoutMillis
    const deadline = options.now() + total
    const left = () => Math.max(0, deadline - options.now())
    if (pin !== "auto" && !Protocol.isModern(pin)) return initialize(options, pin, true, total)
    if (options.connection.legacyOnly === true) {
      return pin === "auto"
        ? initialize(options, LATEST_PROTOCOL_VERSION, false, total)
        : Effect.fail(failed(options, "Invalid", `${pin} is not spoken over this transport (legacy SSE carries 2024-11-05 to 2025-11-25)`))
    }
    const probeMillis = pin === "auto" && options.silenceIsLegacy ? total / 2 : total
    const go = (version: string, retried: boolean): Effect.Effect<Handshake, McpError.TransportCrashed | McpError.InitializeFailed> =>
      Effect.flatMap(discover(options, version, retried, Math.min(probeMillis, left())), (outcome) => {
        switch (outcome._tag) {
          case "Modern":
            return Effect.sync(() => {
              options.connection.setProtocolVersion?.(outcome.handshake.protocolVersion)
              return outcome.handshake
            })
          case "Retry":
            return go(outcome.version, true)
          case "Legacy":
            return pin === "auto"
              ? initialize(options, outcome.version, false, left())
              : Effect.fail(failed(options, "Invalid", `the server does not speak ${pin}`))
        }
      })
    return go(pin === "auto" ? Protocol.latestModern : pin, false)
  })
