import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js"
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js"
import type { JSONRPCMessage, MessageExtraInfo, Progress, RequestId } from "@modelcontextprotocol/sdk/types.js"
import {
  ErrorCode,
  isJSONRPCErrorResponse,
  isJSONRPCResultResponse,
  McpError as SdkMcpError
} from "@modelcontextprotocol/sdk/types.js"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import * as McpError from "../McpError.js"
import type * as Api from "../McpTransport.js"
import type { McpTransport } from "../McpTransport.js"

/** @internal */
export const TypeId: Api.TypeId = Symbol.for("@effect-mcp/session/McpTransport") as Api.TypeId

/** @internal */
export const isMcpTransport = (u: unknown): u is McpTransport<unknown> => Predicate.hasProperty(u, TypeId)

/** @internal */
export const make = <R = never>(options: {
  readonly description: string
  readonly acquire: (
    control: McpTransport.Control
  ) => Effect.Effect<McpTransport.Connection, McpError.TransportCrashed, Scope.Scope | R>
}): McpTransport<R> => ({
  [TypeId]: TypeId,
  description: options.description,
  open: options.acquire
})

/** @internal */
export const errorMessage = (error: unknown): string => {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause
    return cause instanceof Error && cause.message !== error.message ? `${error.message} (${cause.message})` : error.message
  }
  return String(error)
}

/** @internal */
export const inMemory = (
  server: () => McpServer,
  options?: { readonly description?: string | undefined }
): McpTransport =>
  make<never>({
    description: options?.description ?? "in-memory",
    acquire: () =>
      Effect.gen(function*() {
        const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair()
        const instance = server()
        yield* Effect.acquireRelease(
          Effect.tryPromise({
            try: () => instance.connect(serverTransport),
            catch: (cause) =>
              new McpError.TransportCrashed({
                reason: new McpError.ConnectionFailed({ detail: errorMessage(cause), beforeSend: true }),
                transport: options?.description ?? "in-memory",
                cause
              })
          }),
          // interruptible, or the timeout could not cut the wait: a release runs uninterruptibly
          () => Effect.interruptible(Effect.promise(() => instance.close())).pipe(Effect.timeoutOption("1 second"), Effect.ignore)
        )
        return { transport: clientTransport }
      })
  })

// ---------------------------------------------------------------------------------------------------------
// The supervisor: sits between the SDK Client and the SDK transport
// ---------------------------------------------------------------------------------------------------------

/**
 * The `_meta` key under which a session tags each request, so that the supervisor can tell which requests
 * were sent. It is stripped before the message leaves the process.
 *
 * @internal
 */
export const correlationKey = "io.effect-mcp/correlation"

/**
 * Where a request is: being sent, sent, known not to have been delivered, or answered (the answer has been
 * handed to the SDK, which settles the request with it).
 *
 * @internal
 */
export type SendState = "sending" | "sent" | "notDelivered" | "answered"

/**
 * The key under which the supervisor records the `initialize` request, which the SDK sends itself (it
 * carries no correlation tag): whether the server answered it tells its error answer from a death.
 *
 * @internal
 */
export const initializeKey = "initialize"

/**
 * Wraps the SDK transport. It turns every way the transport can die into the completion of one
 * `Deferred` with a typed `TransportCrashed`, records per request whether it was delivered or answered, and routes
 * progress notifications synchronously, in order, before the response that follows them (the SDK handles
 * notifications a microtask late and would drop the last progress of a call).
 *
 * @internal
 */
export class Supervisor implements Transport {
  onclose?: (() => void) | undefined
  onerror?: ((error: Error) => void) | undefined
  onmessage?: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined

  crashed: McpError.TransportCrashed | undefined = undefined
  /**
   * Whether the crash came while the transport was being closed from this side (by the SDK, when
   * `initialize` fails, or by the session's scope): then it is the close's echo, not a death of the transport.
   */
  crashedWhileClosing = false
  private closing = false
  readonly sends = new Map<string, SendState>()
  readonly progress = new Map<string, (progress: Progress) => void>()
  /** The requests under way by JSON-RPC id (as a number, as the SDK matches answers), and back. */
  private readonly keysById = new Map<number, string>()
  private readonly idsByKey = new Map<string, number>()
  private inner: Transport | undefined = undefined
  private classify: McpTransport.Connection["classify"] = undefined

  constructor(
    readonly description: string,
    readonly died: Deferred.Deferred<never, McpError.TransportCrashed>,
    readonly log: (message: string, error: unknown) => void,
    readonly onNotification: (notification: JSONRPCMessage) => void
  ) {}

  /** Binds the opened SDK transport; `control` may already have been used while opening it. */
  attach(connection: McpTransport.Connection): void {
    this.inner = connection.transport
    this.classify = connection.classify
  }

  get sessionId(): string | undefined {
    return this.inner?.sessionId
  }

  setProtocolVersion(version: string): void {
    this.inner?.setProtocolVersion?.(version)
  }

  readonly control: McpTransport.Control = {
    crash: (reason, cause) => this.crash(reason, cause),
    isCrashed: () => this.crashed !== undefined,
    failRequests: (ids, reason, cause) => this.failRequests(ids, reason, cause)
  }

  /**
   * Answers each request with a JSON-RPC error that carries the typed failure as its `data`: the SDK settles
   * the request with it (and forgets its handlers), and the session hands the typed failure to the caller.
   * A server cannot forge it: what comes over the wire is JSON, never a `TransportCrashed` instance.
   */
  failRequests(ids: ReadonlyArray<RequestId>, reason: McpError.TransportCrashedReason, cause?: unknown): void {
    if (this.crashed !== undefined || ids.length === 0) return
    const failure = new McpError.TransportCrashed({
      reason,
      transport: this.description,
      delivery: "MaybeDelivered",
      ...(cause !== undefined ? { cause } : {})
    }, true)
    for (const id of ids) {
      this.onmessage?.({
        jsonrpc: "2.0",
        id,
        error: { code: ErrorCode.ConnectionClosed, message: failure.message, data: failure }
      })
    }
  }

  /** The session ends the transport itself (its scope closes): a death this side caused, as by `close`. */
  end(reason: McpError.TransportCrashedReason): void {
    this.closing = true
    this.crash(reason)
  }

  crash(reason: McpError.TransportCrashedReason, cause?: unknown): void {
    if (this.crashed !== undefined) return
    this.crashedWhileClosing = this.closing
    // no validation: the fields are typed, and this runs on the path a caller waits on
    this.crashed = new McpError.TransportCrashed({
      reason,
      transport: this.description,
      ...(cause !== undefined ? { cause } : {})
    }, true)
    // Let the SDK fail its own pending handlers now, instead of keeping them until `close`. The first
    // crash is the only one that gets here, so the SDK hears of the death once. It goes first: a request
    // that ends by its own rejection costs less than one interrupted by the supervising fiber (which aborts
    // its signal).
    const crashed = this.crashed
    try {
      this.onclose?.()
    } finally {
      Deferred.unsafeDone(this.died, Exit.fail(crashed))
    }
  }

  start(): Promise<void> {
    const inner = this.inner
    if (inner === undefined) return Promise.reject(new Error("Not connected"))
    if (this.crashed !== undefined) return Promise.reject(this.crashed)
    inner.onmessage = (message, extra) => this.receive(message, extra)
    inner.onclose = () => this.crash(new McpError.Closed({ detail: "closed by the transport" }))
    inner.onerror = (error) => {
      const reason = this.classify?.(error, "background")
      if (reason !== undefined) {
        this.crash(reason, error)
      } else if (this.crashed === undefined) {
        this.log("transport error (not fatal)", error)
      }
    }
    // A transport that cannot open (a refused connection, a process that cannot spawn) is dead before
    // anything was sent: `make` fails with this `TransportCrashed`, not with a failed handshake.
    return inner.start().catch((error: unknown) => {
      this.crash(
        this.classify?.(error, "send") ?? new McpError.ConnectionFailed({ detail: errorMessage(error), beforeSend: true }),
        error
      )
      throw this.crashed!.withDelivery("NotDelivered")
    })
  }

  private receive(message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    if (this.crashed !== undefined) return
    if ("method" in message && message.method === "notifications/progress" && !("id" in message)) {
      const params = message.params as { progressToken?: unknown } & Progress | undefined
      const token = params?.progressToken
      if (typeof token === "string") {
        const handler = this.progress.get(token)
        if (handler !== undefined) {
          const { progressToken: _, _meta: __, ...progress } = params as Progress & {
            progressToken: unknown
            _meta?: unknown
          }
          handler(progress)
          return
        }
        // A late progress for a request that already settled: nothing waits for it.
        if (token.startsWith(correlationPrefix)) return
      }
    }
    if ("method" in message && !("id" in message)) this.onNotification(message)
    if ("id" in message && ("result" in message || "error" in message)) {
      const key = this.keysById.get(Number(message.id))
      // An answer only if the SDK takes it as one: a transport that does not validate what it reads may pass
      // on a malformed response, which the SDK reports as an error and does not settle the request with.
      if (
        key !== undefined && this.sends.has(key) &&
        (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message))
      ) this.sends.set(key, "answered")
    }
    this.onmessage?.(message, extra)
  }

  /** Whether the answer to a request has arrived: the SDK settles it with that, whatever happens next. */
  answered(key: string): boolean {
    return this.sends.get(key) === "answered"
  }

  /** A request has settled: nothing more is recorded about it. */
  forget(key: string): void {
    const id = this.idsByKey.get(key)
    if (id !== undefined) {
      this.idsByKey.delete(key)
      this.keysById.delete(id)
    }
    this.sends.delete(key)
    this.progress.delete(key)
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.crashed !== undefined) throw this.crashed
    const inner = this.inner
    if (inner === undefined) throw new Error("Not connected")
    let key: string | undefined
    let outgoing = message
    if ("method" in message && "id" in message) {
      const meta = message.params?._meta as Record<string, unknown> | undefined
      const tag = meta?.[correlationKey]
      if (typeof tag === "string") {
        key = tag
        const { [correlationKey]: _, ...rest } = meta!
        const params = { ...message.params }
        if (Object.keys(rest).length === 0) delete params._meta
        else params._meta = rest
        outgoing = { ...message, params }
      } else if (message.method === "initialize") {
        key = initializeKey
      }
      if (key !== undefined) {
        this.sends.set(key, "sending")
        const id = Number(message.id)
        this.keysById.set(id, key)
        this.idsByKey.set(key, id)
      }
    }
    try {
      await inner.send(outgoing, options)
      // the answer may have come first (in the response to an HTTP POST)
      if (key !== undefined && this.sends.get(key) === "sending") this.sends.set(key, "sent")
    } catch (error) {
      const reason = this.classify?.(error, "send") ??
        new McpError.ConnectionFailed({ detail: errorMessage(error), beforeSend: false })
      if (key !== undefined && this.sends.get(key) === "sending" && McpError.isNotDeliveredReason(reason)) {
        this.sends.set(key, "notDelivered")
      }
      this.crash(reason, error)
      throw error
    }
  }

  /**
   * Closes the transport, best effort: it never rejects. The SDK closes the transport itself when
   * `initialize` fails, without waiting or catching (`void this.close()`), so a rejection here (a transport
   * whose close was interrupted by its scope closing, or that failed) would be unhandled, and would end a
   * Node process that runs with the default `--unhandled-rejections=throw`.
   */
  async close(): Promise<void> {
    this.closing = true
    try {
      await this.inner?.close()
    } catch (error) {
      this.log("closing the transport failed", error)
    }
  }
}

/** @internal */
export const correlationPrefix = "effect-mcp-"

/**
 * The typed failure a request was settled with by `Control.failRequests`, if that is how it ended.
 *
 * @internal
 */
export const failedRequest = (error: unknown): McpError.TransportCrashed | undefined =>
  error instanceof SdkMcpError && error.data instanceof McpError.TransportCrashed ? error.data : undefined
