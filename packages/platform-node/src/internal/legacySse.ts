import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { McpError, McpTransport } from "@effect-mcp/session"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Stream from "effect/Stream"
import type * as Api from "../NodeMcpTransport.js"
import * as Http from "./http.js"
import {
  defaultMaxMessageBytes,
  droppedEvent,
  excerpt,
  oversizeAnswer,
  parseMessages,
  refuseOversizeRequest,
  requestIdsOf
} from "./messages.js"
import type { SseEvent } from "./sseParser.js"
import { SseParser } from "./sseParser.js"

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
    acquire: (control) =>
      Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const streams = yield* FiberSet.make<void, never>()
        const runPromise = yield* FiberSet.makeRuntimePromise<R>()
        const endpoint = yield* Deferred.make<URL, McpError.TransportCrashedReason>()
        const annotate = Effect.annotateLogs({ module: "NodeMcpTransport", method: "sse", transport: description })

        let closing = false
        let started = false
        const early: Array<JSONRPCMessage> = []

        const fail = (reason: McpError.TransportCrashedReason, cause?: unknown) =>
          new McpError.TransportCrashed({ reason, transport: description, ...(cause !== undefined ? { cause } : {}) })

        const execute = Http.executeWith(client)
        const serverIsThere = Http.serverAnswers(execute, url, connectTimeout, streams)

        const deliver = (messages: ReadonlyArray<JSONRPCMessage>) => {
          for (const message of messages) {
            if (started) transport.onmessage?.(message)
            else early.push(message)
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
          Effect.flatMap((response) =>
            response.status >= 200 && response.status < 300
              ? Effect.succeed(response)
              : Http.failedStatus("GET", response, false)
          ),
          Effect.mapError((e) => fail(e.reason, e.original))
        )

        // 2. its reader: the endpoint first, then every message; its end is the transport's death
        let invalid: Array<string> = []
        const onEvent = (event: SseEvent) => {
          if (event.event === "endpoint") {
            let target: URL
            try {
              target = new URL(event.data, url)
            } catch {
              invalid.push(`invalid endpoint: ${excerpt(event.data)}`)
              return
            }
            // posting our messages (and headers) to another origin would leak them
            if (target.origin !== url.origin) {
              Deferred.unsafeDone(
                endpoint,
                Effect.fail(new McpError.StreamClosed({ detail: `the server named an endpoint on another origin (${target.origin})` }))
              )
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
          onOversizeRequest: (id) => refuseOversizeRequest(transport, id, maxMessageBytes),
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
              const reason = new McpError.StreamClosed({
                detail: exit._tag === "Success"
                  ? "the SSE stream ended"
                  : `the SSE stream was cut (${Http.describeError(exit.cause._tag === "Fail" ? exit.cause.error : exit.cause)})`
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

        const post = (message: JSONRPCMessage | Array<JSONRPCMessage>, resent = false): Effect.Effect<void, Http.TransportFailure, R> =>
          Effect.gen(function*() {
            const headers = yield* Http.resolveHeaders(headersInput)
            const response = yield* execute(
              HttpClientRequest.bodyText(HttpClientRequest.post(target), JSON.stringify(message), "application/json"),
              { ...headers, "content-type": "application/json" }
            )
            if (response.status < 200 || response.status >= 300) return yield* Http.failedStatus("POST", response, true)
            yield* Http.discard(response)
          }).pipe(
            // The connection broke after the POST left. A live server does that too, closing an idle
            // keep-alive connection just as we reuse it: if it is there, only what this POST carried is
            // lost (its answer would have come on the event stream), and the session goes on.
            Effect.catchIf(Http.isBrokenConnection, (failure) =>
              Http.brokenPost(serverIsThere, control, requestIdsOf(message), resent ? undefined : post(message, true))(failure)),
            annotate
          )

        const transport: Transport = {
          start: () =>
            Promise.resolve().then(() => {
              started = true
              for (const message of early.splice(0)) transport.onmessage?.(message)
            }),
          send: (message) => {
            if (closing) return Promise.reject(new Error("Not connected"))
            return runPromise(post(message))
          },
          close: async () => {
            if (closing) return
            closing = true
            try {
              await runPromise(FiberSet.clear(streams))
            } finally {
              transport.onclose?.()
            }
          }
        }

        return { transport, classify: Http.classify } satisfies McpTransport.McpTransport.Connection
      })
  })
}
