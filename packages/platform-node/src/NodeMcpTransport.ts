/**
 * Node transports for `@effect-mcp/session`: a child process over stdio, Streamable HTTP and legacy SSE.
 * Each is an `McpTransport` that reports how it died (`TransportCrashed` with a precise reason) the moment
 * it knows, instead of leaving calls to their timeout.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type { McpTransport } from "@effect-mcp/session"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as LogLevel from "effect/LogLevel"
import type * as Metric from "effect/Metric"
import type * as Redacted from "effect/Redacted"
import * as internalSse from "./internal/legacySse.js"
import * as internalStdio from "./internal/stdio.js"
import * as internalHttp from "./internal/streamableHttp.js"

/**
 * A header value: plain, or `Redacted` for secrets. Values are never logged, traced (their names are added
 * to the HttpClient's redacted header names) or put in errors: their messages, or the causes they keep
 * (only a copy of the network error under the HttpClient's is kept, never the request).
 *
 * @since 0.1.0
 * @category models
 */
export type HeaderValue = string | Redacted.Redacted<string>

/**
 * @since 0.1.0
 * @category models
 */
export type HeadersInput = Readonly<Record<string, HeaderValue>>

/**
 * @since 0.1.0
 */
export declare namespace NodeMcpTransport {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface StdioOptions {
    /** The executable, looked up on the child's `PATH`. */
    readonly command: string
    readonly args?: ReadonlyArray<string> | undefined
    readonly cwd?: string | undefined
    /**
     * Variables for the child, on top of a safe default set (the SDK's `getDefaultEnvironment`: `HOME`,
     * `LOGNAME`, `PATH`, `SHELL`, `TERM`, `USER` on POSIX), or on top of the whole parent environment when
     * `inheritEnv` is `true`.
     */
    readonly env?: Readonly<Record<string, string>> | undefined
    /** Pass the parent's whole environment to the child. Default: `false`. */
    readonly inheritEnv?: boolean | undefined
    /**
     * Shown in errors and logs. Default: `stdio: <command> <args>`; set it if the arguments hold secrets.
     */
    readonly description?: string | undefined
    /**
     * Largest message accepted on the child's stdout; a larger one is dropped as it streams by. If it was an
     * answer, its request fails alone with `StreamClosed`; anything else counts as an invalid line (see
     * `invalidLines`). Default: 16 MiB.
     */
    readonly maxMessageBytes?: number | undefined
    /** What to do with a stdout line that is not a JSON-RPC message. Default: `"log"` (logged and counted). */
    readonly invalidLines?: "log" | "crash" | undefined
    /** How many of the child's last stderr lines `ProcessExited.stderrTail` keeps. Default: 20. */
    readonly stderrTailLines?: number | undefined
    /** The level at which each stderr line is logged. Default: `Debug`. */
    readonly stderrLogLevel?: LogLevel.LogLevel | undefined
    /**
     * On close: how long the child and the processes it started (its process group) may take to exit after
     * its stdin is closed, before SIGTERM to the group. Default: 100 ms.
     */
    readonly stdinCloseGrace?: Duration.DurationInput | undefined
    /** On close: how long the child's process group may take to exit after SIGTERM, before SIGKILL. Default: 2 seconds. */
    readonly sigtermGrace?: Duration.DurationInput | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface HttpOptions<R = never> {
    readonly url: string | URL
    /**
     * Headers sent with every request: static, or an Effect run before each request (e.g. reading a
     * refreshed bearer token). A failure of that Effect fails the request with
     * `ConnectionFailed { beforeSend: true }`, which names its kind (`_tag` or error name) only: the
     * failure itself is not kept, as it may quote a secret. A name that is no HTTP token, or a value with
     * CR, LF or another control character, fails the request before it is sent with `InvalidConfiguration`
     * (not delivered, not retryable), which names the header, never its value.
     */
    readonly headers?: HeadersInput | Effect.Effect<HeadersInput, unknown, R> | undefined
    /** Shown in errors and logs. Default: `<kind>: <origin><path>` (no credentials, no query). */
    readonly description?: string | undefined
    /**
     * Largest message accepted: an SSE event, or a JSON answer to a POST. Never more is held. A larger SSE
     * event is dropped as it streams by, and the stream goes on: if it was an answer, its request fails
     * alone with `StreamClosed`; anything else is logged. A larger JSON answer fails the requests of its
     * POST with `StreamClosed`. The transport lives on either way. Default: 16 MiB.
     */
    readonly maxMessageBytes?: number | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface StreamableHttpOptions<R = never> extends HttpOptions<R> {
    /**
     * Resuming a response stream that carried an event id and ended before its answers (GET with
     * `Last-Event-ID`). After a cut, the first attempt is immediate. After the server ended the stream itself
     * (MCP 2025-11-25 servers close streams on purpose and expect to be polled), the first attempt waits the
     * reconnection time the server set with the SSE `retry` field, as the spec requires, or `delay` if it set
     * none. A refused connection ends the attempts at once.
     */
    readonly resumption?: {
      /** Attempts in a row without progress before giving up. Default: 3. */
      readonly attempts?: number | undefined
      /**
       * Bound on each attempt's wait for the answer headers, and on the probe that asks whether the server
       * is still there after a connection broke (its requests then fail alone if it is). Default: 5 seconds.
       * Attempts that go at once after a cut go one at a time (streams cut together wait for the first one's
       * outcome), so this also bounds how long such an attempt can hold up the others.
       */
      readonly timeout?: Duration.DurationInput | undefined
      /**
       * Delay before the second attempt, doubled for each further one, and before the first one after the
       * server ended a stream itself without setting `retry`. Default: 100 ms. An attempt that got
       * no answer at all (a reset connection) is followed at once: a dying server resets connections until
       * it stops listening, and then the next attempt is refused, which fails at once.
       */
      readonly delay?: Duration.DurationInput | undefined
      /**
       * Upper bound on a reconnection time the server sets with the SSE `retry` field, or with the
       * `Retry-After` header of its answer to a failed resumption; when the server set one, it replaces
       * `delay` (and its doubling). Default: 30 seconds.
       */
      readonly maxRetryDelay?: Duration.DurationInput | undefined
    } | undefined
    /** Bound on the `DELETE` that terminates the session on close. Default: 1 second. */
    readonly terminateTimeout?: Duration.DurationInput | undefined
    /** Open the standalone GET stream for server-initiated messages after initialization. Default: `true`. */
    readonly standaloneStream?: boolean | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface SseOptions<R = never> extends HttpOptions<R> {
    /**
     * Bound on the wait for the server's `endpoint` event, on the wait for the answer to a POST that
     * carries no request (a notification; it is let go then), and on the probe that asks whether the server
     * is still there after a POST's connection broke (that POST's requests then fail alone if it is).
     * Default: 10 seconds.
     */
    readonly connectTimeout?: Duration.DurationInput | undefined
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export type StdioOptions = NodeMcpTransport.StdioOptions

/**
 * @since 0.1.0
 * @category models
 */
export type StreamableHttpOptions<R = never> = NodeMcpTransport.StreamableHttpOptions<R>

/**
 * @since 0.1.0
 * @category models
 */
export type SseOptions<R = never> = NodeMcpTransport.SseOptions<R>

/**
 * A server run as a child process, speaking newline-delimited JSON-RPC over its stdin and stdout.
 *
 * The child is spawned with `node:child_process`, and read and written on its events: nothing on the path of a
 * message waits for a fiber, and the transport needs no service. It lives in the session's scope: closing
 * the scope closes its stdin, then sends SIGTERM, then SIGKILL to its process group, each after a bounded
 * grace, and waits for the exit.
 *
 * Deaths: the child exits, is killed, or closes its stdout ⇒ `ProcessExited { code, signal, stderrTail }`
 * within milliseconds; the command cannot start ⇒ the session fails to open with
 * `SpawnFailed { command, error }`. An answer larger than `maxMessageBytes` fails its request alone with
 * `StreamClosed`; the child and the session go on.
 *
 * @example
 * ```ts
 * import { NodeMcpTransport } from "@effect-mcp/platform-node"
 * import { McpSession } from "@effect-mcp/session"
 * import { NodeContext } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * const Session = McpSession.layer({
 *   transport: NodeMcpTransport.stdio({ command: "node", args: ["server.js"] }),
 *   clientInfo: { name: "example", version: "1.0.0" }
 * }).pipe(Layer.provide(NodeContext.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const stdio: (options: NodeMcpTransport.StdioOptions) => McpTransport.McpTransport =
  internalStdio.stdio

/**
 * The Streamable HTTP transport (MCP 2025-03-26 and later), on an `@effect/platform` `HttpClient` (so its
 * middleware, tracing and connection pool apply; provide e.g. `NodeHttpClient.layerUndici`, around the scope
 * that uses the session: provided to `McpSession.make` alone, its client is destroyed when `make` returns,
 * and requests then fail with `InvalidConfiguration`, which says so).
 *
 * Deaths: a non-2xx answer to a POST ⇒ `HttpStatus { status, method, body }` (an excerpt); connection
 * refused ⇒ `ConnectionFailed { beforeSend: true }`, reset ⇒ `ConnectionFailed { beforeSend: false }`; a
 * response stream that ends before answering its requests ⇒ `StreamClosed` at once, unless it carried an
 * event id, in which case it is resumed (GET with `Last-Event-ID`: at once after a cut, after the server's
 * `retry` time when the server ended it) and only a failed resumption kills the transport (refused ⇒
 * `ConnectionFailed` at once); a session the server no longer knows (404, or 400 "No valid session ID") ⇒
 * `SessionExpired`. Closing sends `DELETE`, bounded by `terminateTimeout`.
 *
 * Requests that fail alone: when the server is still there, a POST's answer that cannot deliver what it
 * owes (the server ended the stream without it, an oversize or invalid answer, a 2xx that is neither JSON
 * nor an event stream, resumptions that the server answered without it) or a broken connection (a POST reset, a stream cut without event ids: the transport
 * then asks with an `OPTIONS` whether the server still answers) fails only the requests it carried, with
 * the same typed reason; the other calls and the session go on.
 *
 * Redirects within the URL's origin are followed (at most 5; 307/308 keep the POST); one to another origin
 * is refused with `HttpStatus`, since it would receive our messages and headers. (A `fetch`-based
 * `HttpClient` follows redirects itself unless its `RequestInit` says `redirect: "manual"`.)
 *
 * @since 0.1.0
 * @category constructors
 */
export const streamableHttp: <R = never>(
  options: NodeMcpTransport.StreamableHttpOptions<R>
) => McpTransport.McpTransport<HttpClient.HttpClient | R> = internalHttp.streamableHttp

/**
 * The legacy HTTP+SSE transport (MCP 2024-11-05): a GET event stream that carries every answer, and POSTs
 * to the endpoint the server names on it. Requires an `HttpClient`.
 *
 * Deaths: the event stream ends or breaks (server killed or restarted) ⇒ `StreamClosed` at once, never a
 * silent reconnection to a new, uninitialized session; a non-2xx answer to a POST ⇒ `HttpStatus`, or
 * `SessionExpired` for 404 / 400 "session"; refused ⇒ `ConnectionFailed`. A POST whose connection broke
 * while the server still answers (asked with an `OPTIONS`) fails its own requests alone.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sse: <R = never>(
  options: NodeMcpTransport.SseOptions<R>
) => McpTransport.McpTransport<HttpClient.HttpClient | R> = internalSse.sse

/**
 * Counts the stdout lines of stdio servers that were not JSON-RPC messages (tagged with `transport`, the
 * transport's description).
 *
 * @since 0.1.0
 * @category models
 */
export const stdioInvalidLines: Metric.Metric.Counter<number> = internalStdio.invalidLines
