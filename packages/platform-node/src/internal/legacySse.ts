import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { McpError, McpTransport } from "@effect-mcp/session"
import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Stream from "effect/Stream"
import type * as Api from "../NodeMcpTransport.js"
import * as Http from "./http.js"
import {
  cancelledIdsOf,
  defaultMaxMessageBytes,
  droppedEvent,
  excerpt,
  oversizeAnswer,
  parseMessages,
  oversizeRefusal,
  requestIdsOf,
  responseIdOf
} from "./messages.js"
import type { SseEvent } from "./sseParser.js"
import { SseParser } from "./sseParser.js"

/**
 * A POST that carries requests, while its answer (202) has not come: which of its requests still await
 * their answers on the event stream, and its fiber, interrupted (its socket aborted) once it owes nothing.
 */
interface PostState {
  readonly pending: Set<RequestId>
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
  abandoned: boolean
}

const letGo = (state: PostState): void => {
  state.abandoned = true
  state.fiber?.unsafeInterruptAsFork(FiberId.none)
}

/**
 * The legacy HTTP+SSE client. Unlike the SDK's (an `EventSource` that reconnects by itself and then posts
 * to a new, uninitialized session), the event stream is opened once: when it ends, the transport is dead.
 *
 * @internal
 */
export const sse = <R = never>(options: Api.SseOptions<R>): McpTransport.McpTransport<HttpClient.HttpClient | R> => {
  const url = new URL(options.url)
  const headersInput = Http.protectHeaders(options.headers)
  const description = options.description ?? `sse: ${Http.describeUrl(url)}`
  const maxMessageBytes = options.maxMessageBytes ?? defaultMaxMessageBytes
  const connectTimeout = Duration.decode(options.connectTimeout ?? "10 seconds")

  return McpTransport.make<HttpClient.HttpClient | R>({
    description,
    open: (control) =>
      Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const streams = yield* FiberSet.make<void, never>()
        // each POST runs in a fiber of its own: `send` hands it over and does not wait for the server
        const runPost = yield* FiberSet.makeRuntime<R, void, never>()
        const endpoint = yield* Deferred.make<URL, McpError.TransportCrashedReason>()
        const annotate = Effect.annotateLogs({ module: "NodeMcpTransport", method: "sse", transport: description })

        let closing = false
        // the server's requests over the limit that arrived before the endpoint was known: refused once it is
        let refusals: Array<RequestId> | undefined = []
        /**
         * The POSTs still waiting for their answer, by the requests they carry. A POST is answered 202 at
         * once by the spec, the requests' answers coming on the event stream; one that is not (a stuck server)
         * would hold a socket and a fiber for the session's life. It is let go once every request it carried
         * has been answered on the stream or cancelled (its caller's timeout or interruption).
         */
        const owners = new Map<RequestId, PostState>()
        /** A request no longer awaited; its POST, if that now owes nothing. */
        const settle = (id: RequestId): PostState | undefined => {
          const state = owners.get(id)
          if (state === undefined) return undefined
          owners.delete(id)
          state.pending.delete(id)
          return state.pending.size === 0 ? state : undefined
        }

        const fail = (reason: McpError.TransportCrashedReason, cause?: unknown) =>
          new McpError.TransportCrashed({ reason, transport: description, ...(cause !== undefined ? { cause } : {}) })

        const execute = Http.executeWith(client)
        const serverIsThere = Http.serverAnswers(execute, url, connectTimeout, streams)

        const deliver = (messages: ReadonlyArray<unknown>) => {
          for (const message of messages) {
            const answered = responseIdOf(message)
            if (answered !== undefined) {
              const idle = settle(answered)
              if (idle !== undefined) letGo(idle)
            }
            control.receive(message)
          }
        }

        // 1. the event stream, opened here so that a refused connection fails the opening itself
        const headers = yield* Http.resolveHeaders(headersInput).pipe(Effect.mapError((e) => fail(e.reason)))
        const response = yield* execute(HttpClientRequest.get(url), { ...headers, accept: "text/event-stream" }).pipe(
          Effect.timeoutFail({
            duration: connectTimeout,
            onTimeout: () =>
              new Http.TransportFailure(
                new McpError.ConnectionFailed({ detail: `GET: no answer within ${Duration.format(connectTimeout)}`, beforeSend: false })
              )
          }),
          Effect.flatMap((response) => {
            if (response.status < 200 || response.status >= 300) return Http.failedStatus("GET", response, { sessionId: false, initial: true })
            const type = Http.mediaType(response.headers["content-type"])
            if (type === "text/event-stream") return Effect.succeed(response)
            // a login page, a JSON error: not the stream, which would otherwise be waited for until the bound
            return Effect.zipRight(
              FiberSet.run(streams, Http.discard(response)),
              Effect.fail(
                new Http.TransportFailure(
                  new McpError.StreamClosed({ detail: `GET answered ${type || "no content type"}, not an event stream` })
                )
              )
            )
          }),
          Effect.mapError((e) => fail(e.reason, e.original))
        )
        // relative to where the stream was found, after the redirects we followed (RFC 3986, 5.1.3)
        const base = new URL(response.request.url)

        // 2. its reader: the endpoint first, then every message; its end is the transport's death
        let invalid: Array<string> = []
        const refuseEndpoint = (detail: string) =>
          Deferred.unsafeDone(endpoint, Effect.fail(new McpError.StreamClosed({ detail })))
        const onEvent = (event: SseEvent) => {
          if (event.event === "endpoint") {
            // an event without data lines is no event (WHATWG: it is not dispatched)
            if (!event.hasData) return
            let target: URL
            try {
              // an empty endpoint would name the event stream itself
              if (event.data.trim() === "") throw new Error("empty")
              target = new URL(event.data, base)
            } catch {
              refuseEndpoint(`the server named an invalid endpoint: ${excerpt(event.data) || "(empty)"}`)
              return
            }
            // posting our messages (and headers) to another origin would leak them
            if (target.origin !== url.origin) {
              refuseEndpoint(`the server named an endpoint on another origin (${target.origin})`)
              return
            }
            Deferred.unsafeDone(endpoint, Effect.succeed(target))
            return
          }
          if (event.event !== "message" || event.data === "") return
          const parsed = parseMessages(event.data)
          if (parsed._tag === "Left") invalid.push(`${parsed.left}: ${excerpt(event.data)}`)
          else deliver(parsed.right)
        }
        // an event over the limit is dropped as it streams by, and the stream goes on: if it was an answer,
        // that request fails alone, as soon as its id is read; a request of the server's is answered with an
        // error
        const parser = new SseParser(maxMessageBytes, {
          onEvent,
          onOversizeAnswer: (id, bytes) =>
            control.failRequests([id], new McpError.StreamClosed({ detail: oversizeAnswer(id, "an SSE event", maxMessageBytes, bytes) })),
          onOversizeRequest: (id) =>
            refusals === undefined ? void postInBackground(oversizeRefusal(id, maxMessageBytes)) : void refusals.push(id),
          onOversize: (dropped) => {
            if (!dropped.answered) invalid.push(droppedEvent(dropped, maxMessageBytes))
          }
        })

        yield* response.stream.pipe(
          Stream.runForEach((chunk) =>
            Effect.suspend(() => {
              parser.push(chunk)
              if (invalid.length === 0) return Effect.void
              const lines = invalid
              invalid = []
              return Effect.forEach(lines, (line) => Effect.logWarning("invalid message on the SSE stream", line), {
                discard: true
              })
            })
          ),
          Effect.exit,
          Effect.flatMap((exit) =>
            Effect.sync(() => {
              if (closing) return
              const error = exit._tag === "Failure" ? (exit.cause._tag === "Fail" ? exit.cause.error : exit.cause) : undefined
              const reason = (error !== undefined ? Http.clientClosed(error) : undefined) ?? new McpError.StreamClosed({
                detail: error === undefined ? "the SSE stream ended" : `the SSE stream was cut (${Http.describeError(error)})`
              })
              Deferred.unsafeDone(endpoint, Effect.fail(reason))
              control.crash(reason)
            })
          ),
          annotate,
          FiberSet.run(streams)
        )

        const target = yield* Deferred.await(endpoint).pipe(
          Effect.timeoutFail({
            duration: connectTimeout,
            onTimeout: () => new McpError.StreamClosed({ detail: `no endpoint event within ${Duration.format(connectTimeout)}` })
          }),
          Effect.mapError((reason) => fail(reason))
        )

        const send = (message: JSONRPCMessage | Array<JSONRPCMessage>) =>
          Effect.gen(function*() {
            const headers = yield* Http.resolveHeaders(headersInput)
            const response = yield* execute(
              HttpClientRequest.bodyText(HttpClientRequest.post(target), JSON.stringify(message), "application/json"),
              { ...headers, "content-type": "application/json" }
            )
            if (response.status < 200 || response.status >= 300) return yield* Http.failedStatus("POST", response, { sessionId: true, initial: false })
            yield* Http.discard(response)
          })

        /**
         * Sends a POST. One that carries requests is held while they await their answers (see `owners`);
         * one that carries none (notifications, our answers) owes nothing, and waits for its answer at most
         * `connectTimeout`, then is let go.
         */
        const post = (
          message: JSONRPCMessage | Array<JSONRPCMessage>,
          state: PostState | undefined,
          resent = false
        ): Effect.Effect<void, Http.TransportFailure, R> =>
          (state === undefined
            ? send(message).pipe(
              Effect.timeoutOption(connectTimeout),
              Effect.flatMap((answered) =>
                answered._tag === "Some" ? Effect.void : Effect.logWarning(
                  `a POST that carried no request got no answer within ${Duration.format(connectTimeout)}; let go`
                )
              )
            )
            : Effect.withFiberRuntime<void, Http.TransportFailure, R>((fiber) => {
              state.fiber = fiber
              return send(message)
            }).pipe(
              Effect.ensuring(Effect.sync(() => {
                // answered: nothing left to let go; its requests' answers come on the stream
                state.fiber = undefined
                for (const id of state.pending) if (owners.get(id) === state) owners.delete(id)
              }))
            )).pipe(
            // The connection broke after the POST left. A live server does that too, closing an idle
            // keep-alive connection just as we reuse it: if it is there, only what this POST carried is
            // lost (its answer would have come on the event stream), and the session goes on.
            Effect.catchIf(Http.isBrokenConnection, (failure) =>
              Http.brokenPost(serverIsThere, control, requestIdsOf(message), resent ? undefined : post(message, undefined, true))(
                failure
              )),
            annotate
          )

        /**
         * Starts a POST. A failure it does not settle itself fails what it carried, with a reason that tells
         * whether it was delivered, and then the transport.
         */
        function postInBackground(message: JSONRPCMessage) {
          const requestIds = requestIdsOf(message)
          const state: PostState | undefined = requestIds.length === 0
            ? undefined
            : { pending: new Set(requestIds), fiber: undefined, abandoned: false }
          if (state !== undefined) for (const id of requestIds) owners.set(id, state)
          // the requests it cancels are no longer awaited: their POSTs, if they now owe nothing, are let go
          // once the server has the cancellation
          const idle = cancelledIdsOf(message).flatMap((id) => {
            const done = settle(id)
            return done === undefined ? [] : [done]
          })
          return runPost(post(message, state).pipe(
            Effect.ensuring(Effect.sync(() => idle.forEach(letGo))),
            Effect.catchAll((failure) =>
              Effect.sync(() => {
                // a POST let go ends interrupted: that is no failed send
                if (state?.abandoned === true) return
                control.failRequests(requestIds, failure.reason, failure.original)
                control.crash(failure.reason, failure.original)
              })
            )
          ))
        }
        for (const id of refusals!) postInBackground(oversizeRefusal(id, maxMessageBytes))
        refusals = undefined

        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            closing = true
            return FiberSet.clear(streams)
          })
        )

        const connection: McpTransport.McpTransport.Connection = {
          legacyOnly: true,
          send: (message) =>
            Effect.suspend(() => {
              if (closing) return Effect.fail(Http.closing(description))
              postInBackground(message)
              return Effect.void
            })
        }
        return connection
      })
  })
}
