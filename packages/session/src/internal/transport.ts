import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js"
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Runtime from "effect/Runtime"
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
  readonly open: (
    control: McpTransport.Control
  ) => Effect.Effect<McpTransport.Connection, McpError.TransportCrashed, Scope.Scope | R>
}): McpTransport<R> => ({
  [TypeId]: TypeId,
  description: options.description,
  open: options.open
})

/** @internal */
export const errorMessage = (error: unknown): string => {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause
    return cause instanceof Error && cause.message !== error.message ? `${error.message} (${cause.message})` : error.message
  }
  return String(error)
}

const isRequest = (message: JSONRPCMessage): message is JSONRPCMessage & { readonly id: string | number } =>
  "method" in message && "id" in message

/**
 * The one place where an SDK transport's callbacks and promises meet the session: every callback becomes a
 * `Control` call, every promise is settled here.
 *
 * @internal
 */
export const fromSdk = <R = never>(options: {
  readonly description: string
  readonly acquire: Effect.Effect<Transport, McpError.TransportCrashed, Scope.Scope | R>
  readonly classify?: ((error: unknown, during: "send" | "background") => McpError.TransportCrashedReason | undefined) | undefined
  readonly closeTimeout?: Duration.DurationInput | undefined
}): McpTransport<R> =>
  make<R>({
    description: options.description,
    open: (control) =>
      Effect.gen(function*() {
        const { classify, description } = options
        const runFork = Runtime.runFork(yield* Effect.runtime<never>())
        const log = (message: string, error: unknown) =>
          void runFork(
            Effect.logDebug(message, errorMessage(error)).pipe(
              Effect.annotateLogs({ module: "McpTransport", method: "fromSdk", transport: description })
            )
          )
        const transport = yield* options.acquire
        let closing = false
        transport.onmessage = (message) => control.receive(message)
        transport.onclose = () => control.crash(new McpError.Closed({ detail: "closed by the transport" }))
        transport.onerror = (error) => {
          const reason = classify?.(error, "background")
          if (reason !== undefined) control.crash(reason, error)
          else if (!control.isCrashed()) log("transport error (not fatal)", error)
        }
        // A transport that cannot open (a refused connection, a process that cannot spawn) is dead before
        // anything was sent.
        yield* Effect.tryPromise({
          try: () => transport.start(),
          catch: (error) =>
            new McpError.TransportCrashed({
              reason: classify?.(error, "send") ??
                new McpError.ConnectionFailed({ detail: errorMessage(error), beforeSend: true }),
              transport: description,
              delivery: "NotDelivered",
              cause: error
            })
        })
        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            closing = true
            // interruptible, or the timeout could not cut the wait: a finalizer runs uninterruptibly
            return Effect.interruptible(Effect.promise(() => transport.close().catch((error) => log("closing the transport failed", error))))
          }).pipe(Effect.timeoutOption(options.closeTimeout ?? Duration.seconds(2)), Effect.ignore)
        )
        const notConnected = () =>
          new McpError.TransportCrashed({
            reason: new McpError.Closed({ detail: "not connected" }),
            transport: description,
            delivery: "NotDelivered"
          })
        const connection: McpTransport.Connection = {
          send: (message) =>
            Effect.suspend(() => {
              if (closing || control.isCrashed()) return Effect.fail(notConnected())
              let sent: Promise<void>
              try {
                sent = transport.send(message)
              } catch (error) {
                sent = Promise.reject(error)
              }
              sent.then(undefined, (error: unknown) => {
                const reason = classify?.(error, "send") ??
                  new McpError.ConnectionFailed({ detail: errorMessage(error), beforeSend: false })
                if (isRequest(message)) control.failRequests([message.id], reason, error)
                control.crash(reason, error)
              })
              return Effect.void
            }),
          sessionId: () => transport.sessionId,
          setProtocolVersion: (version) => transport.setProtocolVersion?.(version)
        }
        return connection
      })
  })

/** @internal */
export const inMemory = (
  server: () => McpServer,
  options?: { readonly description?: string | undefined }
): McpTransport => {
  const description = options?.description ?? "in-memory"
  return fromSdk<never>({
    description,
    acquire: Effect.gen(function*() {
      const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair()
      const instance = server()
      yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => instance.connect(serverTransport),
          catch: (cause) =>
            new McpError.TransportCrashed({
              reason: new McpError.ConnectionFailed({ detail: errorMessage(cause), beforeSend: true }),
              transport: description,
              cause
            })
        }),
        // interruptible, or the timeout could not cut the wait: a release runs uninterruptibly
        () => Effect.interruptible(Effect.promise(() => instance.close())).pipe(Effect.timeoutOption("1 second"), Effect.ignore)
      )
      return clientTransport
    })
  })
}
