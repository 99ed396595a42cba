import * as Headers from "@effect/platform/Headers"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { McpError } from "@effect-mcp/session"
import type { McpTransport } from "@effect-mcp/session"
import type { RequestId } from "@modelcontextprotocol/sdk/types.js"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { concat } from "./lines.js"

/** @internal */
export type HeaderValue = string | Redacted.Redacted<string>

/** @internal */
export type HeadersInput = Readonly<Record<string, HeaderValue>>

/** Whether a value is an `HttpClientError` (`RequestError`, `ResponseError`): it holds the request. */
const holdsRequest = (error: unknown): error is { readonly cause?: unknown } =>
  Predicate.isObject(error) && "_tag" in error && "request" in error

/** The fields of a network error that say what happened (errno details); none can hold a header. */
const networkFields = ["code", "errno", "syscall", "address", "port"] as const

/**
 * What a failure keeps of the error that caused it, for debugging: a copy of the network error under it
 * (its name, message, stack, errno fields, and the same of its `cause` and of an AggregateError's
 * `errors`), never the object itself. An `HttpClientError` holds the request, and so our header values in
 * plain text (and a `ResponseError` the server's headers too, `set-cookie` included); its message repeats
 * the URL. Those are skipped for the error under them. Anything that is not an `Error` is dropped.
 *
 * @internal
 */
export const networkCause = (error: unknown, depth = 0): Error | undefined => {
  if (depth > 6) return undefined
  if (holdsRequest(error)) return networkCause(error.cause, depth + 1)
  if (!(error instanceof Error)) return undefined
  const cause = networkCause((error as { cause?: unknown }).cause, depth + 1)
  const copy = new Error(error.message, cause !== undefined ? { cause } : undefined)
  Object.defineProperty(copy, "name", { value: error.name, configurable: true, writable: true, enumerable: false })
  if (error.stack !== undefined) copy.stack = error.stack
  for (const field of networkFields) {
    const value = (error as unknown as Record<string, unknown>)[field]
    if (typeof value === "string" || typeof value === "number") (copy as unknown as Record<string, unknown>)[field] = value
  }
  const errors = (error as { errors?: unknown }).errors
  if (Array.isArray(errors)) {
    Object.assign(copy, {
      errors: errors.flatMap((e) => {
        const kept = networkCause(e, depth + 1)
        return kept === undefined ? [] : [kept]
      })
    })
  }
  return copy
}

/**
 * A failed send or stream, carrying the reason the transport dies of. Its message is the reason's
 * description, which never contains header values; of the error that caused it, only the network error
 * under it is kept (see `networkCause`): the transports give `original` to the session as the cause of
 * what fails, and no header value may reach an error.
 *
 * @internal
 */
export class TransportFailure extends Error {
  readonly original: Error | undefined
  constructor(readonly reason: McpError.TransportCrashedReason, original?: unknown) {
    super(reason.description)
    this.name = "TransportFailure"
    this.original = networkCause(original)
  }
}

/** @internal */
export const classify = (error: unknown): McpError.TransportCrashedReason | undefined =>
  error instanceof TransportFailure ? error.reason : undefined

/** Errno codes that prove the request never left this process: no connection was made. */
const notConnectedCodes = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT"
])

/** The first errno-like `code` in a cause chain (`cause`, and `errors` of an AggregateError). */
export const errorCode = (error: unknown, depth = 0): string | undefined => {
  if (depth > 6 || !Predicate.isObject(error)) return undefined
  const code = (error as { code?: unknown }).code
  if (typeof code === "string") return code
  const errors = (error as { errors?: unknown }).errors
  if (Array.isArray(errors)) {
    for (const e of errors) {
      const found = errorCode(e, depth + 1)
      if (found !== undefined) return found
    }
  }
  return errorCode((error as { cause?: unknown }).cause, depth + 1)
}

/** The messages of a cause chain, joined: `terminated: other side closed`. */
export const describeError = (error: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 6 && current !== undefined && current !== null; depth++) {
    if (Predicate.isObject(current) && "_tag" in current && "reason" in current && "cause" in current) {
      // an @effect/platform error: its own message repeats the request line; the cause says what happened
      current = (current as { cause: unknown }).cause
      continue
    }
    const message = current instanceof Error ? current.message : String(current)
    if (message.length > 0 && !parts.some((p) => p.includes(message))) parts.push(message)
    const errors = (current as { errors?: unknown }).errors
    if (Array.isArray(errors) && errors.length > 0) {
      current = errors[0]
      continue
    }
    current = Predicate.isObject(current) ? (current as { cause?: unknown }).cause : undefined
  }
  return parts.length === 0 ? "unknown error" : parts.join(": ")
}

/** Whether a failure of the request itself (not of its response body) proves nothing was sent. */
export const isNotConnected = (error: unknown): boolean => {
  const code = errorCode(error)
  return code !== undefined && notConnectedCodes.has(code)
}

/**
 * The reason for a request refused because its `HttpClient` was closed (undici: "The client is destroyed"):
 * the client's layer was provided to `McpSession.make` alone (`Effect.provide`), so its scope closed when
 * `make` returned, while the session lives on. Nothing is sent, and nothing will be until the wiring
 * changes: not retryable.
 *
 * @internal
 */
export const clientClosed = (error: unknown): McpError.InvalidConfiguration | undefined =>
  errorCode(error) === "UND_ERR_DESTROYED"
    ? new McpError.InvalidConfiguration({
      detail: "the HttpClient was closed while the session uses it (undici: the client is destroyed). Provide the " +
        "HttpClient layer around the scope that uses the session: to the whole program, or to the session's layer " +
        "with Layer.provide; Effect.provide on McpSession.make alone closes it when make returns"
    })
    : undefined

/**
 * A failed HTTP request (no response) as a reason. Connection refused and friends: `beforeSend: true`;
 * a reset or close after the connection was made: `beforeSend: false` (the server may have read it).
 *
 * @internal
 */
export const requestFailed = (method: string, error: HttpClientError.HttpClientError): McpError.TransportCrashedReason => {
  const closed = clientClosed(error)
  if (closed !== undefined) return closed
  if (error._tag === "RequestError" && error.reason !== "Transport") {
    return new McpError.ConnectionFailed({ detail: `${method}: ${error.reason}: ${describeError(error)}`, beforeSend: true })
  }
  return new McpError.ConnectionFailed({
    detail: `${method}: ${describeError(error)}`,
    beforeSend: error._tag === "RequestError" && isNotConnected(error.cause)
  })
}

/**
 * A non-2xx answer as a reason. A server that no longer knows our session says 404 (the spec) or 400 with
 * "No valid session ID" (the SDK's example servers): both are `SessionExpired`, but only when we did send a
 * session id, otherwise the URL is simply wrong. `initial`: the endpoint never answered a 2xx before.
 *
 * @internal
 */
export const statusFailed = (
  method: string,
  status: number,
  body: string,
  sent: { readonly sessionId: boolean; readonly initial: boolean },
  retryAfter?: Duration.Duration | undefined
): McpError.TransportCrashedReason => {
  if (sent.sessionId && (status === 404 || (status === 400 && /session/i.test(body)))) {
    return new McpError.SessionExpired({ status, detail: body.length > 0 ? body : `${method} answered ${status}` })
  }
  return new McpError.HttpStatus({
    status,
    method,
    body,
    initial: sent.initial,
    ...(retryAfter !== undefined ? { retryAfter } : {})
  })
}

/**
 * How long a `Retry-After` header asks a client to wait: a number of seconds, or an HTTP date, counted from
 * `nowMillis` (the Clock's time; a date already past asks for no wait). A value that is neither is ignored.
 *
 * @internal
 */
export const retryAfterOf = (value: string | undefined, nowMillis: number): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Duration.seconds(Number(text))
  // an HTTP date names its weekday or month: a bare number that is not whole seconds is no date
  if (!/[a-z]/i.test(text)) return undefined
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Duration.millis(Math.max(0, at - nowMillis))
}

const excerptBytes = 4096
const excerptChars = 300

/**
 * The beginning of a response body, for error messages: bounded in bytes and time, whitespace collapsed.
 *
 * @internal
 */
export const bodyExcerpt = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<string> =>
  response.stream.pipe(
    Stream.mapAccum(0, (total, chunk) => [total + chunk.length, [total, chunk] as const]),
    Stream.takeWhile(([before]) => before < excerptBytes),
    Stream.map(([, chunk]) => chunk),
    Stream.runCollect,
    Effect.map((chunks) => {
      const text = new TextDecoder().decode(concat(Chunk.toReadonlyArray(chunks)).subarray(0, excerptBytes))
        .replace(/\s+/g, " ")
        .trim()
      return text.length > excerptChars ? `${text.slice(0, excerptChars)}…` : text
    }),
    Effect.timeoutOption("1 second"),
    Effect.map((o) => (o._tag === "Some" ? o.value : "")),
    Effect.catchAll(() => Effect.succeed(""))
  )

/**
 * A non-2xx answer as the failure it is (see `statusFailed`), with the start of its body and the wait its
 * `Retry-After` header asks for.
 *
 * @internal
 */
export const failedStatus = (
  method: string,
  response: HttpClientResponse.HttpClientResponse,
  sent: { readonly sessionId: boolean; readonly initial: boolean }
): Effect.Effect<never, TransportFailure> =>
  Effect.flatMap(bodyExcerpt(response), (body) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.fail(
        new TransportFailure(
          statusFailed(method, response.status, body, sent, retryAfterOf(response.headers["retry-after"], now))
        )
      )))

/**
 * A whole response body as text, read up to `maxBytes` (a larger body, by its `content-length` or as it
 * arrives, fails with `StreamClosed` and is not read further); a failed read is a `ConnectionFailed`
 * after send.
 *
 * @internal
 */
export const boundedText = (
  response: HttpClientResponse.HttpClientResponse,
  maxBytes: number,
  what: string
): Effect.Effect<string, TransportFailure> => {
  const tooLarge = (bytes: string) =>
    new TransportFailure(new McpError.StreamClosed({ detail: `${what} exceeded the limit of ${maxBytes} bytes (${bytes})` }))
  const declared = Number(response.headers["content-length"])
  if (Number.isFinite(declared) && declared > maxBytes) {
    return Effect.fail(tooLarge(`content-length ${declared}`))
  }
  return response.stream.pipe(
    Stream.mapError((error) =>
      new TransportFailure(
        new McpError.ConnectionFailed({ detail: `${what}: reading it failed: ${describeError(error)}`, beforeSend: false }),
        error
      )
    ),
    Stream.runFoldEffect({ chunks: [] as Array<Uint8Array>, bytes: 0 }, (acc, chunk) => {
      acc.bytes += chunk.length
      if (acc.bytes > maxBytes) return Effect.fail(tooLarge(`more than ${maxBytes} read`))
      acc.chunks.push(chunk)
      return Effect.succeed(acc)
    }),
    Effect.map(({ chunks }) => new TextDecoder().decode(concat(chunks)))
  )
}

/**
 * Runs an HTTP effect with the caller's header names (and the session id) redacted from whatever the
 * HttpClient traces or logs.
 *
 * @internal
 */
export const withRedactedHeaders = (names: ReadonlyArray<string>) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.locallyWith(effect, Headers.currentRedactedNames, (current) => [...current, ...names, "mcp-session-id"])

/**
 * Static headers as the transport holds them: every value `Redacted`, whatever the caller passed, so a
 * stray `inspect` of the transport's state shows no secret.
 *
 * @internal
 */
export const protectHeaders = <E, R>(
  headers: HeadersInput | Effect.Effect<HeadersInput, E, R> | undefined
): HeadersInput | Effect.Effect<HeadersInput, E, R> | undefined => {
  if (headers === undefined || Effect.isEffect(headers)) return headers
  const out: Record<string, HeaderValue> = {}
  for (const [name, value] of Object.entries(headers as HeadersInput)) {
    out[name] = Redacted.isRedacted(value) ? value : Redacted.make(value)
  }
  return out
}

/** @internal */
export const revealHeaders = (headers: HeadersInput): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    out[name.toLowerCase()] = Redacted.isRedacted(value) ? Redacted.value(value) : value
  }
  return out
}

/**
 * What may be told of a headers Effect's failure: its kind (an error's `_tag` or `name`), a defect, or an
 * interruption; never its message or the error itself, which may quote a secret.
 */
const headersFailureKind = <E>(cause: Cause.Cause<E>): string | undefined => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error: unknown = failure.value
    const kind = Predicate.isObject(error) && "_tag" in error ? error._tag : error instanceof Error ? error.name : undefined
    return typeof kind === "string" && /^[\w$.@/-]{1,64}$/.test(kind) ? kind : undefined
  }
  if (Cause.isInterruptedOnly(cause)) return "interrupted"
  return Option.isSome(Cause.dieOption(cause)) ? "a defect" : undefined
}

/** An HTTP field name (RFC 9110 token). */
const headerName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** A character an HTTP field value may not hold: CR, LF, NUL and the other controls but HTAB, or above U+00FF. */
const badValueChar = /[^\t\x20-\x7e\x80-\xff]/

/**
 * Refuses headers that HTTP does not allow before anything is sent: an HTTP client would refuse them
 * itself, as a failure indistinguishable from a lost connection, and some quote the value in their error.
 * The failure names the header, never its value.
 *
 * @internal
 */
export const checkHeaders = (headers: Record<string, string>): TransportFailure | undefined => {
  for (const [name, value] of Object.entries(headers)) {
    if (!headerName.test(name)) {
      return new TransportFailure(new McpError.InvalidConfiguration({ detail: "a header name is not a valid HTTP token" }))
    }
    if (badValueChar.test(value)) {
      return new TransportFailure(
        new McpError.InvalidConfiguration({
          detail: `the value of header "${name}" holds a character HTTP does not allow (CR, LF, NUL or another control)`
        })
      )
    }
  }
  return undefined
}

/**
 * Resolves the caller's headers for one request. A failure to compute them (e.g. a token refresh) is a
 * connection failure before anything was sent; only its kind is told (see `headersFailureKind`), and it is
 * not kept as a cause: its message may quote a secret.
 *
 * @internal
 */
export const resolveHeaders = <E, R>(
  headers: HeadersInput | Effect.Effect<HeadersInput, E, R> | undefined
): Effect.Effect<Record<string, string>, TransportFailure, R> => {
  if (headers === undefined) return Effect.succeed({})
  const checked = (revealed: Record<string, string>) => {
    const invalid = checkHeaders(revealed)
    return invalid === undefined ? Effect.succeed(revealed) : Effect.fail(invalid)
  }
  if (!Effect.isEffect(headers)) return checked(revealHeaders(headers as HeadersInput))
  return (headers as Effect.Effect<HeadersInput, E, R>).pipe(
    Effect.map(revealHeaders),
    Effect.catchAllCause((cause) => {
      const kind = headersFailureKind(cause)
      return Effect.fail(
        new TransportFailure(
          new McpError.ConnectionFailed({
            detail: `computing the request headers failed${kind !== undefined ? ` (${kind})` : ""}`,
            beforeSend: true
          })
        )
      )
    }),
    Effect.flatMap(checked)
  )
}

/** The URL without credentials, query or fragment: safe for descriptions and logs. @internal */
export const describeUrl = (url: URL): string => `${url.origin}${url.pathname}`

/**
 * What a `send` of an HTTP transport fails with once the transport is closing: the message cannot leave.
 *
 * @internal
 */
export const closing = (transport: string): McpError.TransportCrashed =>
  new McpError.TransportCrashed({
    reason: new McpError.Closed({ detail: "the transport is closing" }),
    transport,
    delivery: "NotDelivered"
  })

/** Media type without parameters. @internal */
export const mediaType = (contentType: string | undefined): string =>
  (contentType ?? "").split(";")[0]!.trim().toLowerCase()

/** How many redirects one request may follow. */
const maxRedirects = 5

/**
 * Whether a redirect is followed as the same request: 307 and 308 keep the method and body by definition;
 * 301, 302 and 303 only for a GET (for a POST they would turn it into a GET, and lose the message).
 */
const followable = (method: string, status: number): boolean =>
  status === 307 || status === 308 || (method === "GET" && (status === 301 || status === 302 || status === 303))

/**
 * Reads a body we do not need (a redirect's, a 202's, an unexpected one) so the connection can be reused;
 * bounded to 1 s, its failure ignored.
 *
 * @internal
 */
export const discard = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<void> =>
  Stream.runDrain(response.stream).pipe(Effect.timeout("1 second"), Effect.ignore)

/**
 * Sends a request with these (revealed) headers, their values redacted in logs and traces; a failure is a
 * `TransportFailure` with its reason.
 *
 * Redirects that reach us are followed here: within the request's origin only, at most 5, and a redirect
 * to another origin is refused with `HttpStatus`, since it would receive our messages and headers. A server
 * mounted at `/mcp/` that redirects `/mcp` there (307) works as configured. An `HttpClient` that follows
 * redirects itself (`fetch`, and so `FetchHttpClient`) does so before we see them: its `RequestInit` is the
 * user's, and is not overridden here.
 *
 * @internal
 */
export const executeWith = (client: HttpClient.HttpClient) =>
(request: HttpClientRequest.HttpClientRequest, headers: Record<string, string>) => {
  const origin = new URL(request.url).origin
  const refuse = (status: number, body: string) =>
    Effect.fail(new TransportFailure(new McpError.HttpStatus({ status, method: request.method, body })))
  const send = (
    current: HttpClientRequest.HttpClientRequest,
    redirects: number
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, TransportFailure> =>
    client.execute(HttpClientRequest.setHeaders(current, headers)).pipe(
      withRedactedHeaders(Object.keys(headers)),
      Effect.mapError((error) => new TransportFailure(requestFailed(request.method, error), error)),
      Effect.flatMap((response) => {
        const location = response.headers["location"]
        if (location === undefined || !followable(current.method, response.status)) return Effect.succeed(response)
        let target: URL
        try {
          target = new URL(location, current.url)
        } catch {
          return Effect.zipRight(discard(response), refuse(response.status, `redirected to an invalid location`))
        }
        if (target.origin !== origin) {
          return Effect.zipRight(
            discard(response),
            refuse(response.status, `redirected to another origin (${target.origin}), not followed: it would receive our messages and headers`)
          )
        }
        if (redirects >= maxRedirects) {
          return Effect.zipRight(discard(response), refuse(response.status, `more than ${maxRedirects} redirects`))
        }
        return Effect.zipRight(discard(response), send(HttpClientRequest.setUrl(current, target), redirects + 1))
      })
    )
  return send(request, 0)
}

/** How many times a probe is sent again after its connection broke (the pool may hold other stale ones). */
const probeRetries = 2

/**
 * Whether the server is there: something at its origin answers an `OPTIONS` to `url`, any status, within
 * `timeout`. Asked when a connection broke in a way that a live server can cause as well as a dead one (a
 * live server closing an idle keep-alive connection just as we reuse it, a proxy cutting a long answer):
 * only the requests on that connection are lost then, not the session. A refused connection answers "no"
 * at once; a broken one is tried again at once, at most twice; no answer within `timeout` (all attempts
 * together) is a "no". The answer's body is read by a fiber of `background` (the transport's, closed with
 * it), for at most 1 s. It carries no headers, so no credential and no session id: it asks nothing of the server's MCP endpoint,
 * and any answer, 404 or 405 included, is a "yes".
 *
 * @internal
 */
export const serverAnswers = (
  execute: ReturnType<typeof executeWith>,
  url: URL,
  timeout: Duration.Duration,
  background: FiberSet.FiberSet<void, never>
): Effect.Effect<boolean> => {
  const attempt = (retries: number): Effect.Effect<boolean> =>
    execute(HttpClientRequest.options(url), {}).pipe(
      // the answer is in: its (small) body is read in the background, bounded, so the connection can be reused
      Effect.flatMap((response) => FiberSet.run(background, discard(response))),
      Effect.as(true),
      Effect.catchAll((failure) => {
        // a refused redirect is an answer too
        if (failure.reason._tag !== "ConnectionFailed") return Effect.succeed(true)
        if (failure.reason.beforeSend || retries === 0) return Effect.succeed(false)
        return attempt(retries - 1)
      })
    )
  const probe = Effect.timeoutTo(attempt(probeRetries), { duration: timeout, onTimeout: () => false, onSuccess: identity })
  // One probe at a time: a live server that closed many idle connections at once fails many requests
  // together, and they share one answer instead of sending a probe each. It runs in the background, not in
  // the fiber of the first that asked: that one may be interrupted (its stream abandoned, a cancelled call),
  // which must not answer "gone" to the others.
  let inFlight: Deferred.Deferred<boolean> | undefined
  return Effect.suspend(() => {
    if (inFlight !== undefined) return Deferred.await(inFlight)
    const answer = Deferred.unsafeMake<boolean>(FiberId.none)
    inFlight = answer
    return FiberSet.run(
      background,
      probe.pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            inFlight = undefined
            Deferred.unsafeDone(answer, Exit.succeed(Exit.isSuccess(exit) && exit.value))
          })
        ),
        Effect.asVoid
      )
    ).pipe(Effect.zipRight(Deferred.await(answer)))
  })
}

/**
 * Whether a failure is a connection that broke after the request left (reset, closed, cut mid-body): the
 * failures that `serverAnswers` must judge.
 *
 * @internal
 */
export const isBrokenConnection = (failure: TransportFailure): boolean =>
  failure.reason._tag === "ConnectionFailed" && !failure.reason.beforeSend

/**
 * What a POST whose connection broke after it left costs. If the server is there, only the requests it
 * carried: they fail alone, and the session goes on. A POST of notifications only is sent once more
 * instead (`resend`): a notification may safely arrive twice (`initialized`, `cancelled`), and a lost one
 * would leave the server uninitialized, or running a cancelled call; if that fails too, it is logged.
 * Otherwise the failure stands, and kills the transport.
 *
 * @internal
 */
export const brokenPost = <R>(
  serverIsThere: Effect.Effect<boolean>,
  control: McpTransport.McpTransport.Control,
  requestIds: ReadonlyArray<RequestId>,
  resend: Effect.Effect<void, TransportFailure, R> | undefined
) =>
(failure: TransportFailure): Effect.Effect<void, TransportFailure, R> =>
  Effect.flatMap(serverIsThere, (there) => {
    if (!there) return Effect.fail(failure)
    if (requestIds.length > 0) return Effect.sync(() => control.failRequests(requestIds, failure.reason, failure.original))
    const lost = (reason: McpError.TransportCrashedReason) => Effect.logWarning(`a notification was lost: ${reason.description}`)
    if (resend === undefined) return lost(failure.reason)
    return Effect.catchAll(resend, (again) => lost(again.reason))
  })
