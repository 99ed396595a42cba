import type { JSONRPCMessage, Progress, RequestId } from "@modelcontextprotocol/sdk/types.js"
import { ErrorCode } from "@modelcontextprotocol/sdk/types.js"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as McpError from "../McpError.js"
import type { McpTransport } from "../McpTransport.js"
import type * as Deadlines from "./deadlines.js"

/**
 * Where a request is: handed to the transport or not yet, or answered.
 *
 * @internal
 */
export type Delivery = "sending" | "sent" | "answered"

/**
 * One pending request of the table. Whatever settles it first (its answer, its deadline, the transport's
 * death, a part of the transport failing alone) removes it from the table and resumes its caller.
 *
 * @internal
 */
export interface Entry {
  readonly id: number
  readonly method: string
  delivery: Delivery
  readonly onProgress: ((progress: Progress) => void) | undefined
  readonly decode: (result: unknown) => Effect.Effect<unknown, McpError.RequestError>
  /** The caller's continuation, once it waits; before that, `settled` keeps the outcome for it. */
  resume: ((effect: Effect.Effect<unknown, McpError.RequestError>) => void) | undefined
  settled: Effect.Effect<unknown, McpError.RequestError> | undefined
  cancelDeadline: () => void
  /** `notifications/cancelled` is owed to the server: the caller stopped waiting for an answer. */
  cancel: string | undefined
}

/**
 * What the engine hands to the session: a server's notification, and a server's request (whose answer the
 * session sends back with `respond`).
 *
 * @internal
 */
export interface Handlers {
  readonly notification: (message: { readonly method: string; readonly params?: unknown }) => void
  readonly request: (message: { readonly id: RequestId; readonly method: string; readonly params?: unknown }) => void
  readonly invalid: (detail: string) => void
}

/** @internal */
export interface RequestOptions {
  readonly timeoutMillis: number
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly target?: string | undefined
  readonly onProgress?: ((progress: Progress) => void) | undefined
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const isId = (u: unknown): u is RequestId => typeof u === "string" || typeof u === "number"

/**
 * The protocol engine of one connection: one table of pending requests, fed by `control.receive`, failed
 * all at once by `clearEntries` when the transport dies.
 *
 * @internal
 */
export class Engine {
  readonly entries = new Map<number, Entry>()
  crashed: McpError.TransportCrashed | undefined = undefined
  /** Whether the death came while this side was closing the transport: its echo, not a crash. */
  crashedWhileClosing = false
  private closing = false
  private connection: McpTransport.Connection | undefined = undefined
  private nextId = 0
  /**
   * How a request the caller gave up on is cancelled: with `notifications/cancelled`, or (2026-07-28 over a
   * transport that can) by letting the transport close the request, with no notification.
   */
  cancelByInterrupt = false

  constructor(
    readonly description: string,
    readonly died: Deferred.Deferred<never, McpError.TransportCrashed>,
    readonly deadlines: Deadlines.Deadlines,
    readonly handlers: Handlers
  ) {}

  /** What the server sent while the transport was opening: handed on once it is open. */
  private early: Array<unknown> | undefined = []

  attach(connection: McpTransport.Connection): void {
    this.connection = connection
    const early = this.early!
    this.early = undefined
    for (const message of early) this.receive(message)
  }

  readonly control: McpTransport.Control = {
    receive: (message) => this.receive(message),
    crash: (reason, cause) => this.crash(reason, cause),
    isCrashed: () => this.crashed !== undefined,
    failRequests: (ids, reason, cause) => this.failRequests(ids, reason, cause)
  }

  // -------------------------------------------------------------------------------------------------------
  // the death path
  // -------------------------------------------------------------------------------------------------------

  crash(reason: McpError.TransportCrashedReason, cause?: unknown): void {
    if (this.crashed !== undefined) return
    this.crashedWhileClosing = this.closing
    // no validation: the fields are typed, and this runs on the path every caller waits on
    this.crashed = new McpError.TransportCrashed({
      reason,
      transport: this.description,
      ...(cause !== undefined ? { cause } : {})
    }, true)
    Deferred.unsafeDone(this.died, Exit.fail(this.crashed))
  }

  /** The session ends the transport itself (its scope closes): a death this side caused. */
  end(reason: McpError.TransportCrashedReason): void {
    this.closing = true
    this.crash(reason)
    this.clearEntries(this.crashed!)
  }

  /** Fails every pending request with the death: the supervising fiber's one reaction to it. */
  clearEntries(crashed: McpError.TransportCrashed): void {
    for (const entry of this.entries.values()) {
      this.settle(entry, Effect.fail(crashed.withDelivery(entry.delivery === "sending" ? "NotDelivered" : "MaybeDelivered")))
    }
  }

  failRequests(ids: ReadonlyArray<RequestId>, reason: McpError.TransportCrashedReason, cause?: unknown): void {
    if (this.crashed !== undefined || ids.length === 0) return
    const failure = new McpError.TransportCrashed({
      reason,
      transport: this.description,
      delivery: McpError.isNotDeliveredReason(reason) ? "NotDelivered" : "MaybeDelivered",
      ...(cause !== undefined ? { cause } : {})
    }, true)
    for (const id of ids) {
      const entry = this.entries.get(Number(id))
      if (entry !== undefined) this.settle(entry, Effect.fail(failure))
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // requests
  // -------------------------------------------------------------------------------------------------------

  private settle(entry: Entry, effect: Effect.Effect<unknown, McpError.RequestError>): void {
    if (!this.entries.delete(entry.id)) return
    entry.cancelDeadline()
    if (entry.resume !== undefined) entry.resume(effect)
    else entry.settled = effect
  }

  /**
   * Sends a request and waits for what settles it. Interrupting the caller, or its deadline, sends
   * `notifications/cancelled` (once, whatever else happens at that moment) and lets the transport stop
   * waiting for the answer.
   */
  request<A>(
    method: string,
    params: Record<string, unknown> | undefined,
    decode: (result: unknown) => Effect.Effect<A, McpError.RequestError>,
    options: RequestOptions
  ): Effect.Effect<A, McpError.RequestError> {
    return Effect.suspend(() => {
      if (this.crashed !== undefined) return Effect.fail(this.crashed.withDelivery("NotDelivered"))
      const connection = this.connection!
      const id = this.nextId++
      const entry: Entry = {
        id,
        method,
        delivery: "sending",
        onProgress: options.onProgress,
        decode,
        resume: undefined,
        settled: undefined,
        cancelDeadline: noop,
        cancel: undefined
      }
      this.entries.set(id, entry)
      entry.cancelDeadline = this.deadlines.add(options.timeoutMillis, () => {
        entry.cancel = `timed out after ${options.timeoutMillis} ms`
        this.settle(
          entry,
          Effect.fail(
            new McpError.RequestTimeout({
              method,
              ...(options.target !== undefined ? { target: options.target } : {}),
              timeoutMillis: options.timeoutMillis
            })
          )
        )
      })
      const outgoing = options.onProgress !== undefined
        ? { ...params, _meta: { ...(params?._meta as object | undefined), progressToken: id } }
        : params
      const message = (outgoing === undefined
        ? { jsonrpc: "2.0", id, method }
        : { jsonrpc: "2.0", id, method, params: outgoing }) as JSONRPCMessage
      return connection.send(message, options.headers === undefined ? undefined : { headers: options.headers }).pipe(
        Effect.matchEffect({
          onFailure: (crashed) => {
            this.settle(entry, Effect.fail(crashed.withDelivery("NotDelivered")))
            return this.wait(entry)
          },
          onSuccess: () => {
            if (entry.delivery === "sending") entry.delivery = "sent"
            return this.wait(entry)
          }
        }),
        Effect.onExit((exit) => {
          if (Exit.isInterrupted(exit) && this.entries.delete(id)) {
            entry.cancelDeadline()
            entry.cancel = "interrupted"
          }
          return entry.cancel === undefined ? Effect.void : this.sendCancel(entry)
        })
      ) as unknown as Effect.Effect<A, McpError.RequestError>
    })
  }

  private wait(entry: Entry): Effect.Effect<unknown, McpError.RequestError> {
    if (entry.settled !== undefined) return entry.settled
    return Effect.async<unknown, McpError.RequestError>((resume) => {
      if (entry.settled !== undefined) return resume(entry.settled)
      entry.resume = resume
    })
  }

  private sendCancel(entry: Entry): Effect.Effect<void> {
    const reason = entry.cancel!
    entry.cancel = undefined
    // a request never handed over, or a transport already dead, owes the server nothing; initialize is never
    // cancelled (the spec's rule)
    if (entry.delivery === "sending" || this.crashed !== undefined || entry.method === "initialize") return Effect.void
    const connection = this.connection!
    if (this.cancelByInterrupt && connection.interrupt !== undefined) return connection.interrupt(entry.id)
    return connection.send({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: entry.id, reason }
    } as JSONRPCMessage).pipe(Effect.ignore)
  }

  /** A notification, or an answer to a server's request. Fails only when it cannot leave. */
  send(message: JSONRPCMessage): Effect.Effect<void, McpError.TransportCrashed> {
    return Effect.suspend(() =>
      this.crashed !== undefined ? Effect.fail(this.crashed.withDelivery("NotDelivered")) : this.connection!.send(message)
    )
  }

  // -------------------------------------------------------------------------------------------------------
  // what the server sends
  // -------------------------------------------------------------------------------------------------------

  receive(message: unknown): void {
    if (this.crashed !== undefined) return
    if (this.early !== undefined) return void this.early.push(message)
    if (Array.isArray(message)) {
      for (const item of message) this.receive(item)
      return
    }
    if (!isRecord(message)) return this.handlers.invalid(`not a JSON-RPC message: ${preview(message)}`)
    const id = message.id
    if (typeof message.method === "string") {
      if (message.jsonrpc !== "2.0") return this.handlers.invalid(`not a JSON-RPC 2.0 message: ${message.method}`)
      if (id === undefined) return this.notification(message.method, message.params)
      if (!isId(id)) return this.handlers.invalid(`a request with an invalid id: ${message.method}`)
      return this.handlers.request({ id, method: message.method, params: message.params })
    }
    if (!isId(id)) return this.handlers.invalid(`a response without a valid id: ${preview(message)}`)
    const entry = this.entries.get(Number(id))
    // an answer to a request no longer waited for (cancelled, timed out, or never ours)
    if (entry === undefined) return
    const hasResult = "result" in message
    const error = message.error
    if (message.jsonrpc !== "2.0" || hasResult === ("error" in message)) {
      return this.answerInvalid(entry, hasResult ? "has both result and error" : "has neither result nor error")
    }
    if (hasResult) {
      if (!isRecord(message.result)) return this.answerInvalid(entry, "its result is not an object")
      entry.delivery = "answered"
      const result = message.result
      // decoded in the caller's fiber: a decoder's defect is the caller's, not the transport's
      return this.settle(entry, Effect.suspend(() => entry.decode(result)))
    }
    if (!isRecord(error) || typeof error.code !== "number" || typeof error.message !== "string") {
      return this.answerInvalid(entry, "its error is not a JSON-RPC error object")
    }
    entry.delivery = "answered"
    this.settle(
      entry,
      Effect.fail(
        new McpError.ProtocolError({
          method: entry.method,
          code: error.code,
          detail: error.message,
          ...(error.data !== undefined ? { data: error.data } : {})
        })
      )
    )
  }

  private answerInvalid(entry: Entry, detail: string): void {
    entry.delivery = "answered"
    this.settle(
      entry,
      Effect.fail(
        new McpError.ProtocolError({ method: entry.method, code: ErrorCode.InvalidRequest, detail: `invalid answer: ${detail}` })
      )
    )
  }

  private notification(method: string, params: unknown): void {
    if (method === "notifications/progress" && isRecord(params)) {
      const token = params.progressToken
      const entry = typeof token === "number" ? this.entries.get(token) : undefined
      if (entry?.onProgress !== undefined) {
        const { _meta: _, progressToken: __, ...progress } = params
        try {
          entry.onProgress(progress as Progress)
        } catch (defect) {
          // the caller's bug fails the caller's call, and the request is cancelled on the server
          entry.cancel = "the caller's onProgress failed"
          this.settle(entry, Effect.die(defect))
        }
        return
      }
      // a late progress for a request that already settled: nothing waits for it
      if (typeof token === "number") return
    }
    this.handlers.notification(params === undefined ? { method } : { method, params })
  }
}

const noop = () => {}

const preview = (u: unknown): string => {
  try {
    const text = JSON.stringify(u) ?? String(u)
    return text.length > 200 ? `${text.slice(0, 200)}…` : text
  } catch {
    return String(u)
  }
}
