/**
 * The typed errors of an MCP session. Every SDK error and rejected promise is mapped into one of these at
 * the boundary, so nothing untyped reaches a caller.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category models
 */
export const TypeId: unique symbol = Symbol.for("@effect-mcp/session/McpError")

/**
 * @since 0.1.0
 * @category models
 */
export type TypeId = typeof TypeId

// ---------------------------------------------------------------------------------------------------------
// TransportCrashed reasons
// ---------------------------------------------------------------------------------------------------------

/**
 * The server process exited (or its stdout ended, which is the same death to a client).
 *
 * @since 0.1.0
 * @category models
 */
export class ProcessExited extends Schema.TaggedClass<ProcessExited>("@effect-mcp/session/ProcessExited")(
  "ProcessExited",
  {
    code: Schema.NullOr(Schema.Number),
    signal: Schema.NullOr(Schema.String),
    stderrTail: Schema.String
  }
) {
  /**
   * @since 0.1.0
   */
  get description(): string {
    const how = this.signal !== null ? `killed by ${this.signal}` : this.code !== null ? `exited with code ${this.code}` : "exited"
    return this.stderrTail.length > 0 ? `server process ${how}; stderr: ${this.stderrTail}` : `server process ${how}`
  }

  /**
   * A server process may start again.
   *
   * @since 0.1.0
   */
  get retryable(): boolean {
    return true
  }
}

/**
 * The server process could not be started at all (missing command, permissions...). `code` is the OS's
 * error code (`ENOENT`, `EACCES`...), when known.
 *
 * @since 0.1.0
 * @category models
 */
export class SpawnFailed extends Schema.TaggedClass<SpawnFailed>("@effect-mcp/session/SpawnFailed")("SpawnFailed", {
  command: Schema.String,
  error: Schema.String,
  code: Schema.optional(Schema.String)
}) {
  /**
   * @since 0.1.0
   */
  get description(): string {
    return `could not start ${this.command}: ${this.error}`
  }

  /**
   * A missing command (or directory) or one that may not be run stays so: `ENOENT` and `EACCES` are
   * permanent; other errors (too many processes, out of memory) may pass.
   *
   * @since 0.1.0
   */
  get retryable(): boolean {
    return this.code !== "ENOENT" && this.code !== "EACCES"
  }
}

/**
 * The server answered an HTTP request with a non-2xx status.
 *
 * `retryAfter` is how long the server asked the client to wait before trying again (its `Retry-After`
 * header, in seconds or as a date, typically with 429 or 503), when it said so. A resilient session waits
 * that long before it rebuilds (bounded by the policy's `maxRetryAfter`); it is encoded as milliseconds.
 *
 * `initial` is `true` when the endpoint had not answered any request with a 2xx yet: then a 404, 405 or
 * 410 says that the URL is wrong, not that a session or a route went away.
 *
 * @since 0.1.0
 * @category models
 */
export class HttpStatus extends Schema.TaggedClass<HttpStatus>("@effect-mcp/session/HttpStatus")("HttpStatus", {
  status: Schema.Number,
  method: Schema.String,
  body: Schema.String,
  /** The wait the server asked for (`Retry-After`), if it did. */
  retryAfter: Schema.optional(Schema.DurationFromMillis),
  /** Whether no request to this endpoint had been answered with a 2xx before. */
  initial: Schema.optionalWith(Schema.Boolean, { default: () => false })
}) {
  /**
   * @since 0.1.0
   */
  get description(): string {
    const wait = this.retryAfter !== undefined ? ` (retry after ${Duration.format(this.retryAfter)})` : ""
    return `HTTP ${this.method} answered ${this.status}${wait}${this.body.length > 0 ? `: ${this.body}` : ""}`
  }

  /**
   * Permanent: 401 and 403 (there is no way to authenticate anew), and 404, 405 and 410 from an endpoint
   * that never answered (a wrong URL). Any other status may pass (5xx, 408, 429, a proxy's 4xx).
   *
   * @since 0.1.0
   */
  get retryable(): boolean {
    if (this.status === 401 || this.status === 403) return false
    return !(this.initial && (this.status === 404 || this.status === 405 || this.status === 410))
  }
}

/**
 * A stream that was to carry answers (a stdio pipe, an SSE response) ended before it delivered them.
 *
 * @since 0.1.0
 * @category models
 */
export class StreamClosed extends Schema.TaggedClass<StreamClosed>("@effect-mcp/session/StreamClosed")(
  "StreamClosed",
  { detail: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  get description(): string {
    return `stream closed: ${this.detail}`
  }

  /**
   * A new stream may carry what this one did not.
   *
   * @since 0.1.0
   */
  get retryable(): boolean {
    return true
  }
}

/**
 * The connection could not be made or was reset (refused, reset, DNS...).
 *
 * @since 0.1.0
 * @category models
 */
export class ConnectionFailed extends Schema.TaggedClass<ConnectionFailed>("@effect-mcp/session/ConnectionFailed")(
  "ConnectionFailed",
  {
    detail: Schema.String,
    /** `true` when the failure happened before the request left this process. */
    beforeSend: Schema.Boolean
  }
) {
  /**
   * @since 0.1.0
   */
  get description(): string {
    return `connection failed: ${this.detail}`
  }

  /**
   * A server that refused or reset a connection may be back soon.
   *
   * @since 0.1.0
   */
  get retryable(): boolean {
    return true
  }
}

/**
 * The server no longer knows this session (HTTP 404, or 400 "No valid session ID").
 *
 * @since 0.1.0
 * @category models
 */
export class SessionExpired extends Schema.TaggedClass<SessionExpired>("@effect-mcp/session/SessionExpired")(
  "SessionExpired",
  { status: Schema.Number, detail: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  get description(): string {
    return `session expired (HTTP ${this.status}): ${this.detail}`
  }

  /**
   * A new session is the remedy.
   *
   * @since 0.1.0
   */
  get retryable(): boolean {
    return true
  }
}

/**
 * Liveness pings went unanswered: the peer is silent, so we treat it as dead.
 *
 * @since 0.1.0
 * @category models
 */
export class LivenessLost extends Schema.TaggedClass<LivenessLost>("@effect-mcp/session/LivenessLost")(
  "LivenessLost",
  { missed: Schema.Number }
) {
  /**
   * @since 0.1.0
   */
  get description(): string {
    return `liveness lost after ${this.missed} missed ping(s)`
  }

  /**
   * A new connection may find the peer answering.
   *
   * @since 0.1.0
   */
  get retryable(): boolean {
    return true
  }
}

/**
 * The transport was closed: by the peer, or locally because the session's scope closed.
 *
 * @since 0.1.0
 * @category models
 */
export class Closed extends Schema.TaggedClass<Closed>("@effect-mcp/session/Closed")("Closed", {
  detail: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  get description(): string {
    return `transport closed: ${this.detail}`
  }

  /**
   * A peer that closed may accept a new connection.
   *
   * @since 0.1.0
   */
  get retryable(): boolean {
    return true
  }
}

/**
 * The transport refused what it was configured with before anything was sent (e.g. a header value with CR
 * or LF, which HTTP does not allow, or an `HttpClient` closed while the session uses it). `detail` names what
 * is wrong and what to do, never a value. Trying again sends the
 * same: it is permanent, and the request was not delivered.
 *
 * @since 0.1.0
 * @category models
 */
export class InvalidConfiguration extends Schema.TaggedClass<InvalidConfiguration>(
  "@effect-mcp/session/InvalidConfiguration"
)("InvalidConfiguration", { detail: Schema.String }) {
  /**
   * @since 0.1.0
   */
  get description(): string {
    return `invalid configuration: ${this.detail}`
  }

  /**
   * The same configuration fails the same way.
   *
   * @since 0.1.0
   */
  get retryable(): boolean {
    return false
  }
}

/**
 * Why a transport died.
 *
 * @since 0.1.0
 * @category models
 */
export const TransportCrashedReason = Schema.Union(
  ProcessExited,
  SpawnFailed,
  HttpStatus,
  StreamClosed,
  ConnectionFailed,
  SessionExpired,
  LivenessLost,
  Closed,
  InvalidConfiguration
)

/**
 * @since 0.1.0
 * @category models
 */
export type TransportCrashedReason = typeof TransportCrashedReason.Type

/**
 * Whether a request is known to have never reached the server. Decided per request, from what the
 * transport observed while sending it.
 *
 * - `NotDelivered`: the request provably never reached the server (never sent, connection refused, the
 *   server rejected the POST with a 4xx).
 * - `MaybeDelivered`: the request left this process; the server may have executed it.
 *
 * @since 0.1.0
 * @category models
 */
export const Delivery = Schema.Literal("NotDelivered", "MaybeDelivered")

/**
 * @since 0.1.0
 * @category models
 */
export type Delivery = typeof Delivery.Type

/**
 * Whether a reason, observed while sending a request, proves that the request did not reach the server.
 *
 * @since 0.1.0
 * @category guards
 */
export const isNotDeliveredReason = (reason: TransportCrashedReason): boolean => {
  switch (reason._tag) {
    case "SpawnFailed":
    case "SessionExpired":
    case "InvalidConfiguration":
      return true
    case "ConnectionFailed":
      return reason.beforeSend
    case "HttpStatus":
      // 4xx: the server refused the request before handling it (408 and 429 included: not executed)
      return reason.status >= 400 && reason.status < 500
    default:
      return false
  }
}

// ---------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------

const deliveryCopies = new WeakMap<TransportCrashed, { [D in Delivery]?: TransportCrashed }>()

const transportCrashedFields = {
  reason: TransportCrashedReason,
  /** A description of the transport, never containing secrets (e.g. `stdio: node server.js`). */
  transport: Schema.String,
  /** Set on the failure of a request: was it possibly seen by the server? */
  delivery: Schema.optional(Delivery),
  cause: Schema.optional(Schema.Defect)
}

/**
 * The transport died. Carries why, and (for a failed request) whether the request may have been delivered.
 *
 * It captures no stack trace. It is made where a death is noticed (a stream's end, a process's exit, a
 * timer), on the path every pending caller waits on, and those frames say nothing about the calls it fails:
 * each request's span names the call, and `Cause.pretty` shows it. Capturing them took 0.6 to 0.8 ms on
 * that path (its code is cold after an idle wait), and kept the dead transport reachable through the
 * frames' receivers for as long as the error was kept. Its `stack` is its first line:
 * `TransportCrashed: <transport>: <reason>`. Invalid fields still throw a `ParseError` with the caller's
 * frames.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportCrashed extends Schema.TaggedError<TransportCrashed>("@effect-mcp/session/TransportCrashed")(
  "TransportCrashed",
  transportCrashedFields
) {
  /**
   * @since 0.1.0
   */
  declare readonly [TypeId]: TypeId

  /**
   * @since 0.1.0
   */
  constructor(props: Schema.Struct.Constructor<typeof transportCrashedFields>, options?: Schema.MakeOptions) {
    const limit = Error.stackTraceLimit
    let lowered = false
    try {
      Error.stackTraceLimit = 0
      lowered = true
    } catch {
      // frozen intrinsics: this error keeps a stack trace
    }
    // `super` within `try` (restoring the limit whatever happens) is why the type id is on the prototype:
    // a class with an initialised field must call `super` first
    try {
      super(props, options)
    } catch (error) {
      // invalid fields: the validation error gets the frames of whoever gave them
      if (lowered) Error.stackTraceLimit = limit
      lowered = false
      if (error instanceof Error) Error.captureStackTrace(error, TransportCrashed)
      throw error
    } finally {
      if (lowered) Error.stackTraceLimit = limit
    }
  }

  /**
   * @since 0.1.0
   */
  get message(): string {
    return `${this.transport}: ${this.reason.description}`
  }

  /**
   * Whether trying again may help: its reason's `retryable`. A resilient session's default policy gives up
   * at once when an attempt to build a session fails with a permanent error.
   *
   * @since 0.1.0
   */
  get retryable(): boolean {
    return this.reason.retryable
  }

  /**
   * @since 0.1.0
   */
  withDelivery(delivery: Delivery): TransportCrashed {
    if (this.delivery === delivery) return this
    // Every pending request of a dying transport asks for one of two copies: each is made once, without
    // validating again the fields of a valid instance.
    let copies = deliveryCopies.get(this)
    if (copies === undefined) {
      copies = {}
      deliveryCopies.set(this, copies)
    }
    return copies[delivery] ??= new TransportCrashed({
      reason: this.reason,
      transport: this.transport,
      delivery,
      ...(this.cause !== undefined ? { cause: this.cause } : {})
    }, true)
  }
}
Object.defineProperty(TransportCrashed.prototype, TypeId, { value: TypeId })

/**
 * A request did not complete within its timeout (measured on Effect's Clock).
 *
 * @since 0.1.0
 * @category errors
 */
export class RequestTimeout extends Schema.TaggedError<RequestTimeout>("@effect-mcp/session/RequestTimeout")(
  "RequestTimeout",
  {
    method: Schema.String,
    /** The tool name for `tools/call`, the URI for `resources/read`, ... */
    target: Schema.optional(Schema.String),
    timeoutMillis: Schema.Number
  }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * @since 0.1.0
   */
  get message(): string {
    return `${this.method}${this.target !== undefined ? ` ${this.target}` : ""} timed out after ${this.timeoutMillis} ms`
  }
}

/**
 * The server answered with a JSON-RPC error, or with a result that does not match the protocol.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProtocolError extends Schema.TaggedError<ProtocolError>("@effect-mcp/session/ProtocolError")(
  "ProtocolError",
  {
    method: Schema.String,
    /** The JSON-RPC error code (e.g. -32601 method not found, -32602 invalid params). */
    code: Schema.Number,
    detail: Schema.String,
    data: Schema.optional(Schema.Unknown),
    cause: Schema.optional(Schema.Defect)
  }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * @since 0.1.0
   */
  get message(): string {
    return `${this.method} failed (${this.code}): ${this.detail}`
  }
}

/**
 * The server needs input from the client before it can answer (2026-07-28's `resultType:
 * "input_required"`): what it asks for (`inputRequests`: elicitation, sampling, roots) and the state to
 * send back with the answers. Answering it is not supported yet: the request fails with this, typed.
 *
 * @since 0.1.0
 * @category errors
 */
export class InputRequired extends Schema.TaggedError<InputRequired>("@effect-mcp/session/InputRequired")(
  "InputRequired",
  {
    method: Schema.String,
    target: Schema.optional(Schema.String),
    inputRequests: Schema.optional(Schema.Unknown),
    requestState: Schema.optional(Schema.String)
  }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * @since 0.1.0
   */
  get message(): string {
    const kinds = this.inputRequests !== null && typeof this.inputRequests === "object"
      ? [...new Set(Object.values(this.inputRequests).map((r) => String((r as { method?: unknown })?.method)))].join(", ")
      : "no input (state only)"
    return `${this.method}${this.target !== undefined ? ` ${this.target}` : ""} needs input from the client: ${kinds}`
  }
}

/**
 * A tool ran and reported an error (`isError: true`). Only produced when the caller asks for it with
 * `callTool(params, { toolErrors: "fail" })`; by default the result is returned as it is.
 *
 * @since 0.1.0
 * @category errors
 */
export class ToolError extends Schema.TaggedError<ToolError>("@effect-mcp/session/ToolError")("ToolError", {
  toolName: Schema.String,
  /** The tool's text content, joined. */
  detail: Schema.String,
  /** The whole `CallToolResult`. */
  result: Schema.Unknown
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * @since 0.1.0
   */
  get message(): string {
    return `tool ${this.toolName} failed: ${this.detail}`
  }
}

/**
 * The request was cancelled by the server or by the protocol engine (not by interruption of the caller,
 * which is an Effect interruption).
 *
 * @since 0.1.0
 * @category errors
 */
export class Cancelled extends Schema.TaggedError<Cancelled>("@effect-mcp/session/Cancelled")("Cancelled", {
  method: Schema.String,
  detail: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * @since 0.1.0
   */
  get message(): string {
    return `${this.method} cancelled: ${this.detail}`
  }
}

/**
 * The MCP handshake (`initialize`) failed for a reason other than the transport dying: an error answer,
 * an unsupported protocol version, an invalid result.
 *
 * @since 0.1.0
 * @category errors
 */
export class InitializeFailed extends Schema.TaggedError<InitializeFailed>("@effect-mcp/session/InitializeFailed")(
  "InitializeFailed",
  {
    transport: Schema.String,
    /**
     * - `Timeout`: no answer to `initialize` within the request timeout;
     * - `Rejected`: the server answered `initialize` with an error;
     * - `Invalid`: the answer broke the protocol (invalid result, unsupported protocol version).
     */
    reason: Schema.Literal("Timeout", "Rejected", "Invalid"),
    detail: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * @since 0.1.0
   */
  get message(): string {
    return `${this.transport}: initialize failed: ${this.detail}`
  }

  /**
   * `Invalid` is permanent (no protocol version in common, an answer that breaks the protocol); a server that
   * did not answer in time, or refused (e.g. not ready yet), may do better later.
   *
   * @since 0.1.0
   */
  get retryable(): boolean {
    return this.reason !== "Invalid"
  }
}

/**
 * A resilient session stopped trying: its reconnect schedule ended without a live session. Calls on it
 * fail with this from then on.
 *
 * @since 0.1.0
 * @category errors
 */
export class GaveUp extends Schema.TaggedError<GaveUp>("@effect-mcp/session/GaveUp")("GaveUp", {
  transport: Schema.String,
  /** How many attempts to (re)build the session were made. */
  attempts: Schema.Number,
  /** The error of the last attempt. */
  lastError: Schema.Union(TransportCrashed, InitializeFailed)
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * @since 0.1.0
   */
  get message(): string {
    const permanent = this.lastError.retryable ? "" : " (not retryable)"
    return `${this.transport}: gave up after ${this.attempts} attempt(s)${permanent}: ${this.lastError.message}`
  }
}

/**
 * Every error an MCP request can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type McpError =
  | TransportCrashed
  | RequestTimeout
  | ProtocolError
  | InputRequired
  | ToolError
  | Cancelled
  | InitializeFailed
  | GaveUp

/**
 * The errors of a request other than `tools/call` with `toolErrors: "fail"`. (`GaveUp` comes only from a
 * resilient session.)
 *
 * @since 0.1.0
 * @category errors
 */
export type RequestError = TransportCrashed | RequestTimeout | ProtocolError | InputRequired | Cancelled | GaveUp

/**
 * @since 0.1.0
 * @category guards
 */
export const isMcpError = (u: unknown): u is McpError => Predicate.hasProperty(u, TypeId)

/**
 * @since 0.1.0
 * @category guards
 */
export const isInputRequired = (u: unknown): u is InputRequired => u instanceof InputRequired

/**
 * @since 0.1.0
 * @category guards
 */
export const isTransportCrashed = (u: unknown): u is TransportCrashed => u instanceof TransportCrashed

/**
 * @since 0.1.0
 * @category guards
 */
export const isRequestTimeout = (u: unknown): u is RequestTimeout => u instanceof RequestTimeout

/**
 * @since 0.1.0
 * @category guards
 */
export const isProtocolError = (u: unknown): u is ProtocolError => u instanceof ProtocolError

/**
 * @since 0.1.0
 * @category guards
 */
export const isToolError = (u: unknown): u is ToolError => u instanceof ToolError

/**
 * @since 0.1.0
 * @category guards
 */
export const isInitializeFailed = (u: unknown): u is InitializeFailed => u instanceof InitializeFailed

/**
 * @since 0.1.0
 * @category guards
 */
export const isGaveUp = (u: unknown): u is GaveUp => u instanceof GaveUp

/**
 * @since 0.1.0
 * @category guards
 */
export const isCancelled = (u: unknown): u is Cancelled => u instanceof Cancelled
