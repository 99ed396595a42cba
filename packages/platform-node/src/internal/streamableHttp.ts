import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { McpError, McpTransport } from "@effect-mcp/session"
import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as FiberId from "effect/FiberId"
import type * as Fiber from "effect/Fiber"
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
import { SseParser } from "./sseParser.js"

/** Which stream we are reading, and what it still owes us. */
interface StreamState {
  readonly kind: "post" | "standalone"
  /** Requests carried by the POST whose answers have not arrived yet. */
  readonly pending: Set<RequestId>
  lastEventId: string | undefined
  /** The reconnection time the server last set on this stream (the SSE `retry` field), in ms. */
  retryMillis: number | undefined
  /**
   * Set when a POST's requests were all cancelled (`notifications/cancelled`): it owes nothing any more,
   * and its answer or stream is not waited for, read nor resumed. Its fibers are interrupted then.
   */
  abandoned: boolean
  /** The fiber sending the POST (until its answer is in), and the one reading its stream. */
  poster: Fiber.RuntimeFiber<unknown, unknown> | undefined
  reader: Fiber.RuntimeFiber<unknown, unknown> | undefined
}

const newState = (kind: StreamState["kind"], requestIds: ReadonlyArray<RequestId>): StreamState => ({
  kind,
  pending: new Set(requestIds),
  lastEventId: undefined,
  retryMillis: undefined,
  abandoned: false,
  poster: undefined,
  reader: undefined
})

/**
 * Lets a POST go: its fibers are interrupted (the socket of its answer is aborted), not raced against a
 * signal, which would fork two fibers per POST for a cancellation that rarely comes.
 */
const abandon = (state: StreamState): void => {
  state.abandoned = true
  state.poster?.unsafeInterruptAsFork(FiberId.none)
  state.reader?.unsafeInterruptAsFork(FiberId.none)
}

/** How one read of a response stream finished. */
interface Consumed {
  /** "ended" or "was cut (…)", for messages. */
  readonly problem: string
  /** Whether it delivered anything or lived long: a stream that did is not a failed attempt. */
  readonly progressed: boolean
  /** Whether the body ended as HTTP says it should (the server closed it), rather than being cut. */
  readonly clean: boolean
}

const isInitializedNotification = (message: JSONRPCMessage | Array<JSONRPCMessage>): boolean =>
  !Array.isArray(message) && "method" in message && message.method === "notifications/initialized"

/** @internal */
export const streamableHttp = <R = never>(
  options: Api.StreamableHttpOptions<R>
): McpTransport.McpTransport<HttpClient.HttpClient | R> => {
  const url = new URL(options.url)
  const headersInput = Http.protectHeaders(options.headers)
  const description = options.description ?? `streamableHttp: ${Http.describeUrl(url)}`
  const maxMessageBytes = options.maxMessageBytes ?? defaultMaxMessageBytes
  const resumeAttempts = options.resumption?.attempts ?? 3
  const resumeTimeout = Duration.decode(options.resumption?.timeout ?? "5 seconds")
  const resumeDelay = Duration.decode(options.resumption?.delay ?? "100 millis")
  const maxRetryDelay = Duration.decode(options.resumption?.maxRetryDelay ?? "30 seconds")
  const terminateTimeout = Duration.decode(options.terminateTimeout ?? "1 second")
  const standaloneEnabled = options.standaloneStream ?? true

  return McpTransport.make<HttpClient.HttpClient | R>({
    description,
    open: (control) =>
      Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        // Response streams live in their own set, so `close` can stop them (aborting their sockets) before
        // it sends the DELETE; both sets are interrupted when the session's scope closes.
        const streams = yield* FiberSet.make<void, never>()
        const runStream = yield* FiberSet.runtime(streams)<R>()
        // each POST runs in a fiber of its own: `send` hands it over and does not wait for the server
        const runPost = yield* FiberSet.makeRuntime<R, void, never>()

        let sessionId: string | undefined = undefined
        let protocolVersion: string | undefined = undefined
        /** 2026-07-28: no session, no resumption, no standalone stream. */
        let modern = false
        /**
         * Whether an error status's JSON-RPC body is the answer of the request it carried: under 2026-07-28,
         * and before the version is known (the handshake); never in a legacy session, whose 404 is its end.
         */
        const answersInBody = () => protocolVersion === undefined || modern
        let closing = false
        let standaloneStarted = false
        // whether the endpoint answered a 2xx yet: before, a 404 says the URL is wrong
        let answered = false
        /** Which stream owes the answer to a request, wherever that answer arrives. */
        const owners = new Map<RequestId, StreamState>()
        /**
         * Attempts that go at once after a cut go one at a time. A dying server cuts every stream it holds in
         * the same moment, and one refused attempt tells all of them: the others wait for its outcome (its
         * answer's headers, or its failure, bounded by `resumption.timeout`) instead of adding their own
         * requests and error paths to the same turns of the event loop. A live server answers it in a round
         * trip, and the next goes then.
         */
        const oneAtATime = yield* Effect.makeSemaphore(1)

        const annotate = Effect.annotateLogs({ module: "NodeMcpTransport", method: "streamableHttp", transport: description })
        const crash = (reason: McpError.TransportCrashedReason, cause?: unknown) =>
          Effect.sync(() => control.crash(reason, cause))
        const finished = () => closing || control.isCrashed()
        const pendingIds = (state: StreamState) => [...state.pending].map((id) => JSON.stringify(id)).join(", ")
        /** A request no longer owed by its stream: answered, or failed. */
        const settle = (id: RequestId) => {
          owners.get(id)?.pending.delete(id)
          owners.delete(id)
        }
        /**
         * Requests the caller cancelled (its timeout, or its interruption): the SDK sends
         * `notifications/cancelled`, and a server then never answers them (the SDK's does not), though it
         * may hold their stream open. They are no longer owed; the POSTs that now owe nothing are returned,
         * to be abandoned once the notification went out.
         */
        const cancel = (ids: ReadonlyArray<RequestId>): Array<StreamState> => {
          const idle: Array<StreamState> = []
          for (const id of ids) {
            const state = owners.get(id)
            settle(id)
            if (state?.kind === "post" && state.pending.size === 0) idle.push(state)
          }
          return idle
        }
        /**
         * The requests a POST carried lose their answers, while the server is still there: they fail alone,
         * with `StreamClosed`, and the transport lives on for the others.
         */
        const failCarried = (state: StreamState, detail: string) =>
          Effect.sync(() => {
            const ids = [...state.pending]
            for (const id of ids) settle(id)
            control.failRequests(ids, new McpError.StreamClosed({ detail }))
          })

        const headersFor = (accept: string) =>
          Effect.map(Http.resolveHeaders(headersInput), (user) => {
            const headers: Record<string, string> = { ...user, accept }
            if (sessionId !== undefined && !modern) headers["mcp-session-id"] = sessionId
            if (protocolVersion !== undefined) headers["mcp-protocol-version"] = protocolVersion
            return headers
          })

        const execute = Http.executeWith(client)
        const serverIsThere = Http.serverAnswers(execute, url, resumeTimeout, streams)

        const deliver = (messages: ReadonlyArray<unknown>) => {
          for (const message of messages) {
            const answered = responseIdOf(message)
            if (answered !== undefined) settle(answered)
            control.receive(message)
          }
        }

        /**
         * Reads one SSE response until it ends or breaks; delivers its messages in order. A resumed POST stream
         * is read only until it has delivered the answers it owed: the spec has the server close it then, and
         * one that does not would otherwise hold a connection per resumed call for the session's life.
         */
        const consume = (response: HttpClientResponse.HttpClientResponse, state: StreamState, resumed: boolean) =>
          Effect.gen(function*() {
            const startedAt = yield* Clock.currentTimeMillis
            let received = false
            let invalid: Array<string> = []
            // an answer over the limit was told: once the stream owes nothing, the rest of it is not read
            let toldOversize = false
            const parser = new SseParser(maxMessageBytes, {
              onEvent: (event) => {
                received = true
                // 2026-07-28 has no resumption: a broken stream loses its requests
                if (!modern && event.id !== undefined && event.id !== "") state.lastEventId = event.id
                if (event.event !== "message" || event.data === "") return
                const parsed = parseMessages(event.data)
                if (parsed._tag === "Left") invalid.push(`${parsed.left}: ${excerpt(event.data)}`)
                else deliver(parsed.right)
              },
              onOversizeAnswer: (id, bytes) => {
                // only a request this stream carries (a resumption may replay an answer already told)
                if (!owners.has(id)) return
                settle(id)
                toldOversize = true
                const detail = oversizeAnswer(id, "an SSE event", maxMessageBytes, bytes)
                control.failRequests([id], new McpError.StreamClosed({ detail }))
              },
              onOversizeRequest: (id) => void postInBackground(oversizeRefusal(id, maxMessageBytes)),
              onOversize: (dropped) => {
                // dropped as it streamed by, and the stream goes on: a resumption must not replay it
                received = true
                if (!modern && dropped.id !== undefined && dropped.id !== "") state.lastEventId = dropped.id
                if (!dropped.answered) invalid.push(droppedEvent(dropped, maxMessageBytes))
              },
              onRetry: (millis) => {
                state.retryMillis = millis
              }
            })
            const exit = yield* response.stream.pipe(
              Stream.runForEach((chunk) =>
                Effect.suspend(() => {
                  parser.push(chunk)
                  // A resumed stream is read only until it has delivered what it owed (above); so is one whose
                  // last owed answer was over the limit, which may go on for ever and would hold the connection.
                  if ((resumed || toldOversize) && state.kind === "post" && state.pending.size === 0) {
                    return Effect.fail("answered" as const)
                  }
                  if (invalid.length === 0) return Effect.void
                  const lines = invalid
                  invalid = []
                  return Effect.forEach(lines, (line) => Effect.logWarning("invalid message on an SSE stream", line), {
                    discard: true
                  })
                })
              ),
              Effect.exit
            )
            const lived = (yield* Clock.currentTimeMillis) - startedAt
            const problem = exit._tag === "Success"
              ? "ended"
              : `was cut (${Http.describeError(exit.cause._tag === "Fail" ? exit.cause.error : exit.cause)})`
            return { problem, progressed: received || lived > 1000, clean: exit._tag === "Success" } satisfies Consumed
          })

        /** Opens a GET event stream, resuming after `lastEventId` when given. */
        const openGet = (lastEventId: string | undefined) =>
          Effect.gen(function*() {
            const headers = yield* headersFor("text/event-stream")
            if (lastEventId !== undefined) headers["last-event-id"] = lastEventId
            const sent = { sessionId: sessionId !== undefined, initial: !answered }
            const response = yield* execute(HttpClientRequest.get(url), headers).pipe(
              Effect.timeoutFail({
                duration: resumeTimeout,
                onTimeout: () =>
                  new Http.TransportFailure(
                    new McpError.ConnectionFailed({
                      detail: `GET: no answer within ${Duration.format(resumeTimeout)}`,
                      beforeSend: false
                    })
                  )
              })
            )
            if (response.status < 200 || response.status >= 300) return yield* Http.failedStatus("GET", response, sent)
            const type = Http.mediaType(response.headers["content-type"])
            if (type !== "text/event-stream") {
              yield* Effect.fork(Http.discard(response))
              return yield* Effect.fail(
                new Http.TransportFailure(new McpError.StreamClosed({ detail: `GET answered ${type || "no content type"}, not an event stream` }))
              )
            }
            return response
          })

        /**
         * A POST stream that cannot deliver what it owes: the requests it carried fail alone if the server is
         * there (it took the last step itself, or answers now), else the transport is declared dead.
         */
        const lost = (state: StreamState, detail: string, serverTookLastStep: boolean) =>
          Effect.flatMap(serverTookLastStep ? Effect.succeed(true) : serverIsThere, (there) =>
            finished()
              ? Effect.void
              : there
              ? failCarried(state, detail)
              : crash(new McpError.StreamClosed({ detail })))

        /**
         * Follows a stream to its end, resuming it at once with `Last-Event-ID` when it breaks while it still
         * owes answers (or, for the standalone stream, whenever it breaks). A POST stream that cannot be
         * resumed fails the requests it carried at once, which would otherwise wait for their timeout: alone
         * when the server is there (it ended the stream itself, answered the resumptions, or answers a probe
         * now), with the whole transport when it is not (a resumption or the probe found nobody).
         */
        const follow = (state: StreamState, first: HttpClientResponse.HttpClientResponse | undefined) =>
          Effect.gen(function*() {
            let response = first
            let opened = first !== undefined
            let failures = 0
            let lastProblem = "was not open yet"
            // A server being killed can still accept connections in its last milliseconds and reset them: an
            // attempt after such a failure (no answer at all) also goes at once, until one finds nobody
            // listening. Only an answer (an HTTP error) is followed by the delay.
            let retryAtOnce = false
            let endedCleanly = false
            // whether the server itself took the last step: ended the stream, or answered the resumption
            let serverAnswered = false
            let resumed = false
            // the wait a failed attempt's answer asked for (Retry-After), for the next attempt
            let asked: Duration.Duration | undefined = undefined
            const label = state.kind === "post" ? "the response stream of a POST" : "the standalone GET stream"
            while (true) {
              if (response !== undefined) {
                const consumed = yield* consume(response, state, resumed)
                response = undefined
                if (state.kind === "post" && state.pending.size === 0) return
                if (finished()) return
                if (consumed.progressed) failures = 0
                lastProblem = consumed.problem
                endedCleanly = consumed.clean
                serverAnswered = consumed.clean
                if (state.kind === "post" && state.lastEventId === undefined) {
                  return yield* lost(state, `${label} ${lastProblem} before answering request(s) ${pendingIds(state)}`, endedCleanly)
                }
              }
              failures++
              if (failures > resumeAttempts) {
                if (state.kind === "standalone") {
                  return yield* Effect.logWarning(`${label} ${lastProblem}; not reopening it after ${resumeAttempts} attempts`)
                }
                return yield* lost(
                  state,
                  `${label} ${lastProblem} before answering request(s) ${pendingIds(state)}; ` +
                    `gave up resuming it after ${resumeAttempts} attempt(s)`,
                  serverAnswered
                )
              }
              // A server that ends a stream itself asks to be polled (MCP 2025-11-25, SEP-1699), after the
              // reconnection time it set with the SSE `retry` field (or the `Retry-After` of its answer to the
              // last attempt), which the client must wait, or else after our `delay`: a live server that keeps
              // ending its streams is polled, not hammered. A stream that was cut did not end by the server's
              // plan, so its first attempt goes at once: a killed server must be reported in milliseconds.
              const serverDelay = asked !== undefined
                ? Duration.min(asked, maxRetryDelay)
                : state.retryMillis === undefined
                ? undefined
                : Duration.min(Duration.millis(state.retryMillis), maxRetryDelay)
              asked = undefined
              if (failures === 1) {
                if (endedCleanly) yield* Effect.sleep(serverDelay ?? resumeDelay)
              } else if (!retryAtOnce) {
                yield* Effect.sleep(serverDelay ?? Duration.times(resumeDelay, 2 ** (failures - 2)))
              }
              const atOnce: boolean = failures === 1 ? !endedCleanly : retryAtOnce
              retryAtOnce = false
              if (finished()) return
              // the transport may have died while this attempt waited its turn: then it is not sent
              const open = Effect.suspend(() => finished() ? Effect.succeed(undefined) : Effect.either(openGet(state.lastEventId)))
              const attempt: Either.Either<HttpClientResponse.HttpClientResponse, Http.TransportFailure> | undefined =
                yield* (atOnce ? oneAtATime.withPermits(1)(open) : open)
              if (attempt === undefined || finished()) return
              if (attempt._tag === "Right") {
                response = attempt.right
                opened = true
                resumed = true
                continue
              }
              const reason: McpError.TransportCrashedReason = attempt.left.reason
              const what = state.kind === "post"
                ? `${label} ${lastProblem} before answering request(s) ${pendingIds(state)}; resuming it failed`
                : `${label} ${lastProblem}; reopening it failed`
              if (reason._tag === "ConnectionFailed" && reason.beforeSend) {
                // nobody listens any more: the server is gone
                return yield* crash(
                  new McpError.ConnectionFailed({ detail: `${what}: ${reason.detail}`, beforeSend: false }),
                  attempt.left.original
                )
              }
              // nothing can be sent any more (the HttpClient was closed): the transport is dead, and says why
              if (reason._tag === "InvalidConfiguration") return yield* crash(reason)
              if (state.kind === "standalone" && !opened) {
                // The stream is optional, and servers that do not offer it are meant to answer 405. Many
                // answer 404 or 400 instead (an unrouted GET), which must not read as an expired session.
                return yield* Effect.logDebug(`the standalone GET stream is not available: ${reason.description}`)
              }
              if (reason._tag === "SessionExpired") return yield* crash(reason)
              if (reason._tag === "HttpStatus" && reason.status === 405) {
                if (state.kind === "standalone") return
                return yield* failCarried(state, `${what}: the server does not offer GET (405)`)
              }
              lastProblem = `${lastProblem}, then ${reason.description}`
              retryAtOnce = reason._tag === "ConnectionFailed"
              serverAnswered = reason._tag !== "ConnectionFailed"
              asked = reason._tag === "HttpStatus" ? reason.retryAfter : undefined
            }
          }).pipe(annotate)

        /** Follows a stream in the background; a POST's until it is abandoned (its fiber ends, its socket closes). */
        const startStream = (state: StreamState, response: HttpClientResponse.HttpClientResponse | undefined) => {
          if (state.abandoned) return
          const fiber = runStream(follow(state, response))
          if (state.kind === "post") state.reader = fiber
        }

        /** What a POST will owe: the requests it carries, owed by it from now on (their answers may come first). */
        const owedBy = (message: JSONRPCMessage | Array<JSONRPCMessage>): StreamState | undefined => {
          const requestIds = requestIdsOf(message)
          if (requestIds.length === 0) return undefined
          const state = newState("post", requestIds)
          for (const id of requestIds) owners.set(id, state)
          return state
        }

        const post = (
          message: JSONRPCMessage | Array<JSONRPCMessage>,
          state: StreamState | undefined,
          mcpHeaders?: Readonly<Record<string, string>> | undefined,
          resent = false
        ): Effect.Effect<void, Http.TransportFailure, R> =>
          Effect.suspend(() => {
            const requestIds = state === undefined ? [] : [...state.pending]
            const idle = cancel(cancelledIdsOf(message))
            const sent = state === undefined
              ? sendPost(message, state, mcpHeaders)
              : Effect.withFiberRuntime<void, Http.TransportFailure, R>((fiber) => {
                state.poster = fiber
                return sendPost(message, state, mcpHeaders)
              }).pipe(Effect.ensuring(Effect.sync(() => void (state.poster = undefined))))
            return sent.pipe(
              // a POST that failed owes nothing any more: what it carried fails, alone or with the transport
              Effect.tapError(() => Effect.sync(() => requestIds.forEach(settle))),
              // The connection broke after the POST left (reset, closed before or while answering). A live
              // server does that too, closing an idle keep-alive connection just as we reuse it: if it is
              // there, only what this POST carried is lost, and the session goes on.
              Effect.catchIf(Http.isBrokenConnection, (failure) =>
                Http.brokenPost(serverIsThere, control, requestIds, resent ? undefined : post(message, undefined, mcpHeaders, true))(failure)),
              // the server has the cancellation (or it was lost): the POSTs it left owing nothing are let go
              Effect.ensuring(Effect.sync(() => idle.forEach(abandon))),
              annotate
            )
          })

        /**
         * A 4xx whose body is a JSON-RPC error (2026-07-28's header, capability and version errors; a legacy
         * server's refusal of the probe): the answer of the one request the POST carried, whatever id the body
         * gives it (servers answer `null` where they could not read one). 401 and 403 are no answer.
         */
        const answerInBody = (response: HttpClientResponse.HttpClientResponse, state: StreamState) =>
          Effect.gen(function*() {
            if (response.status === 401 || response.status === 403 || state.pending.size !== 1) return false
            if (Http.mediaType(response.headers["content-type"]) !== "application/json") return false
            const text = yield* Http.boundedText(response, maxMessageBytes, "the JSON answer to a POST").pipe(
              Effect.orElseSucceed(() => undefined)
            )
            if (text === undefined) return false
            let body: unknown
            try {
              body = JSON.parse(text)
            } catch {
              return false
            }
            const error = (body as { error?: unknown } | null)?.error
            if (typeof error !== "object" || error === null || typeof (error as { code?: unknown }).code !== "number") return false
            const [id] = state.pending
            deliver([{ jsonrpc: "2.0", id, error }])
            return true
          })

        /** Sends a POST; `state`: what it owes, if it carries requests. */
        const sendPost = (
          message: JSONRPCMessage | Array<JSONRPCMessage>,
          state: StreamState | undefined,
          mcpHeaders: Readonly<Record<string, string>> | undefined
        ): Effect.Effect<void, Http.TransportFailure, R> =>
          Effect.gen(function*() {
            const headers = yield* headersFor("application/json, text/event-stream")
            if (mcpHeaders !== undefined) Object.assign(headers, mcpHeaders)
            headers["content-type"] = "application/json"
            const sent = { sessionId: sessionId !== undefined && !modern, initial: !answered }
            const response = yield* execute(
              HttpClientRequest.bodyText(HttpClientRequest.post(url), JSON.stringify(message), "application/json"),
              headers
            )
            const newSession = response.headers["mcp-session-id"]
            // a request of 2026-07-28 has no session, whatever the server says
            if (newSession !== undefined && newSession !== "" && mcpHeaders?.["mcp-protocol-version"] === undefined) {
              sessionId = newSession
            }
            if (response.status < 200 || response.status >= 300) {
              if (state !== undefined && answersInBody() && response.status >= 400 && response.status < 500) {
                const answered = yield* answerInBody(response, state)
                if (answered) return
              }
              return yield* Http.failedStatus("POST", response, sent)
            }
            answered = true
            if (state === undefined) {
              // 202 and no body, by the spec; read whatever there is so the connection can be reused
              yield* Http.discard(response)
              if (standaloneEnabled && !standaloneStarted && isInitializedNotification(message)) {
                standaloneStarted = true
                startStream(newState("standalone", []), undefined)
              }
              return
            }
            const type = Http.mediaType(response.headers["content-type"])
            if (type === "text/event-stream") {
              startStream(state, response)
              return
            }
            if (type === "application/json") {
              // A JSON answer that cannot give the answers it owes fails those requests alone: the server is
              // there, it answered. A body cut while it was read is another matter (a ConnectionFailed).
              const text = yield* Http.boundedText(response, maxMessageBytes, "the JSON answer to a POST").pipe(
                Effect.catchIf(
                  (failure) => failure.reason._tag === "StreamClosed",
                  (failure) => Effect.as(failCarried(state, (failure.reason as McpError.StreamClosed).detail), undefined)
                )
              )
              if (text === undefined) return
              const parsed = parseMessages(text)
              if (parsed._tag === "Left") {
                return yield* failCarried(state, `POST answered with an invalid message: ${parsed.left}: ${excerpt(text)}`)
              }
              deliver(parsed.right)
              if (state.pending.size > 0) {
                return yield* failCarried(state, `the JSON answer to a POST did not answer request(s) ${pendingIds(state)}`)
              }
              return
            }
            // Neither JSON nor an event stream (a proxy's HTML page, say): that answer carries no MCP, and fails
            // the requests of its POST alone; the server may answer the next one.
            const body = yield* Http.bodyExcerpt(response)
            const ids = [...state.pending]
            for (const id of ids) settle(id)
            control.failRequests(
              ids,
              new McpError.HttpStatus({
                status: response.status,
                method: "POST",
                body: `unexpected content type ${type || "(none)"}${body.length > 0 ? `: ${body}` : ""}`
              })
            )
          })

        const terminate = Effect.suspend(() => {
          if (sessionId === undefined) return Effect.void
          return headersFor("application/json, text/event-stream").pipe(
            Effect.flatMap((headers) => execute(HttpClientRequest.del(url), headers)),
            Effect.flatMap((response) => Stream.runDrain(response.stream)),
            // it runs in a finalizer, which is uninterruptible: the timeout could not cut it otherwise
            Effect.interruptible,
            Effect.timeoutOption(terminateTimeout),
            Effect.ignore
          )
        })

        /**
         * Starts a POST. A failure it does not settle itself (see `post`) fails what it carried, with a
         * reason that tells whether it was delivered, and then the transport.
         */
        const postInBackground = (message: JSONRPCMessage, mcpHeaders?: Readonly<Record<string, string>> | undefined) => {
          const state = owedBy(message)
          const requestIds = requestIdsOf(message)
          return runPost(post(message, state, mcpHeaders).pipe(
            Effect.catchAll((failure) =>
              Effect.sync(() => {
                // a POST abandoned (its requests all cancelled) ends interrupted: that is no failed send
                if (state?.abandoned === true) return
                control.failRequests(requestIds, failure.reason, failure.original)
                // before the version is known, an error status is the handshake's to judge (a legacy server
                // may refuse 2026-07-28's probe any way it likes), not the transport's end
                if (protocolVersion === undefined && failure.reason._tag === "HttpStatus" && requestIds.length > 0) return
                control.crash(failure.reason, failure.original)
              })
            )
          ))
        }

        // closing: the response streams first (aborting their sockets), then the DELETE, bounded
        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            closing = true
            return FiberSet.clear(streams).pipe(Effect.zipRight(terminate))
          })
        )

        const connection: McpTransport.McpTransport.Connection = {
          send: (message, sendOptions) =>
            Effect.suspend(() => {
              if (closing) return Effect.fail(Http.closing(description))
              postInBackground(message, sendOptions?.headers)
              return Effect.void
            }),
          // a request the caller gave up on: its POST is closed (2026-07-28's cancellation), once it owes nothing
          interrupt: (id) =>
            Effect.sync(() => {
              const state = owners.get(id)
              settle(id)
              if (state?.kind === "post" && state.pending.size === 0) abandon(state)
            }),
          sessionId: () => (modern ? undefined : sessionId),
          setProtocolVersion: (version) => {
            protocolVersion = version
            modern = version >= "2026-07-28"
          }
        }
        return connection
      })
  })
}
