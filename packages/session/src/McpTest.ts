/**
 * A test kit: an in-memory MCP server built on the SDK's `McpServer`, and a fault-injecting transport
 * wrapper. Both run on the current Effect runtime, so delays follow `TestClock`.
 *
 * @since 0.1.0
 */
import type { RequestId } from "@modelcontextprotocol/sdk/types.js"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as internal from "./internal/test.js"
import type { TransportCrashedReason } from "./McpError.js"
import type { McpTransport } from "./McpTransport.js"

/**
 * A cancellation observed by the test server: the request's handler saw its signal aborted.
 *
 * @since 0.1.0
 * @category testing
 */
export interface Cancellation {
  readonly requestId: RequestId
  readonly reason: string
}

/**
 * @since 0.1.0
 * @category testing
 */
export interface ServerOptions {
  readonly name?: string | undefined
  readonly instructions?: string | undefined
  /** Registers that many extra tools (`extra-0`, ...), e.g. to exercise pagination. */
  readonly extraTools?: number | undefined
}

/**
 * An in-memory MCP server. Every opening of `transport` connects a fresh `McpServer` with these tools:
 *
 * - `echo { message }` (read-only): answers `Echo: <message>`
 * - `add { a, b }` (read-only, with an output schema): answers the sum
 * - `increment` (not idempotent): counts its executions
 * - `set { value }` (idempotent)
 * - `progress { steps }`: sends `steps` progress notifications, then answers
 * - `block`: answers only on `release`, records its cancellation; `block-readonly`: the same, read-only
 * - `fail { message }`: answers with `isError: true`
 * - `log { message }`: sends a `notifications/message`
 *
 * a resource `test://static`, a template `test://items/{id}` and a prompt `greet { name }`. Executions are
 * counted per tool across every opening.
 *
 * @since 0.1.0
 * @category testing
 */
export interface TestServer {
  readonly transport: McpTransport
  /** How many times the server executed a tool. */
  readonly executions: (tool: string) => Effect.Effect<number>
  /**
   * The `block` calls that saw their signal aborted: by a `notifications/cancelled`, or by their connection
   * closing (the SDK aborts every handler still running then).
   */
  readonly cancellations: Effect.Effect<ReadonlyArray<Cancellation>>
  /** The `_meta` of every `echo` request as the server saw it. */
  readonly metas: Effect.Effect<ReadonlyArray<Record<string, unknown> | undefined>>
  /** How many server instances were connected (one per opening). */
  readonly opened: Effect.Effect<number>
  /** How many transports are open now. */
  readonly live: Effect.Effect<number>
  /**
   * Lets every `block` call sent before it answer: the ones running, and the ones on their way to the
   * server's handler. A call not sent yet (its fiber forked a moment before) waits for the next `release`.
   */
  readonly release: Effect.Effect<void>
}

/**
 * Faults to inject into the connection opened last through a `faulty` transport.
 *
 * @since 0.1.0
 * @category testing
 */
export interface Faults {
  /** Declares the transport dead with this reason (as a real transport would on exit, reset...). */
  readonly crash: (reason: TransportCrashedReason) => Effect.Effect<void>
  /** Closes the underlying transport, as a peer hanging up would. */
  readonly close: Effect.Effect<void>
  /** The next openings fail with these reasons, one each (e.g. to test backoff). */
  readonly failNextOpens: (...reasons: ReadonlyArray<TransportCrashedReason>) => Effect.Effect<void>
  /**
   * The next requests sent (other than the handshake's: `initialize`, `server/discover`) fail in `send` with these reasons, one each, as a
   * transport does when the request is refused (e.g. `HttpStatus` 403 or `SessionExpired`): the request
   * never reaches the server, and the transport is dead. The caller's failure is `NotDelivered` for the
   * reasons that say so (4xx `HttpStatus`, `SessionExpired`, `SpawnFailed`, `ConnectionFailed { beforeSend:
   * true }`), `MaybeDelivered` for the others, as with a real transport.
   */
  readonly failNextSends: (...reasons: ReadonlyArray<TransportCrashedReason>) => Effect.Effect<void>
  /**
   * Fails the requests sent and not yet answered (an answer dropped by `dropIncoming`, or still delayed by
   * `delayIncoming`, is not one) with `TransportCrashed { reason }` while the transport lives on, as a
   * transport does when the response stream that was to carry their answers ends without them
   * (`McpTransport.Control.failRequests`). Their answers, if the server still sends them, are dropped.
   */
  readonly failPending: (reason: TransportCrashedReason) => Effect.Effect<void>
  /** While on, outgoing messages are accepted and silently discarded: requests never reach the server. */
  readonly blackHole: (on: boolean) => Effect.Effect<void>
  /** Drops the next `count` messages from the server. */
  readonly dropIncoming: (count: number) => Effect.Effect<void>
  /**
   * Delays every message from the server by this much, on Effect's Clock, in their order: a message never
   * overtakes one delayed before it. The delays end with the connection.
   */
  readonly delayIncoming: (delay: Duration.DurationInput) => Effect.Effect<void>
  /** How many times the transport was opened (or attempted). */
  readonly opens: Effect.Effect<number>
  /** Every message sent through the transport, as sent. */
  readonly sent: Effect.Effect<ReadonlyArray<unknown>>
}

/**
 * @since 0.1.0
 * @category testing
 */
export const server: (options?: ServerOptions) => Effect.Effect<TestServer> = internal.makeServer

/**
 * Wraps a transport so that faults can be injected on command. Delays run on the Clock of the runtime
 * that created the wrapper (a `TestClock` in `it.effect`).
 *
 * @since 0.1.0
 * @category testing
 */
export const faulty: <R>(
  transport: McpTransport<R>
) => Effect.Effect<{ readonly transport: McpTransport<R>; readonly faults: Faults }> = internal.faulty
