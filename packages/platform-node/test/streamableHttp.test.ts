/**
 * Streamable HTTP faults, scripted by a server in this process (test/fixtures/scriptedServer.ts).
 */
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import { FetchHttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import * as HttpClient from "@effect/platform/HttpClient"
import { McpError, McpSession, McpSessionPolicy } from "@effect-mcp/session"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { scriptedServer } from "./fixtures/scriptedServer.js"
import { assertNoSecret, assertRefusedWithoutSecret, secretHeaders, secrets } from "./secrets.js"
import { clientInfo, crashing, crashOf, failureOf, freePort, httpClients, sleepingFor, timed, tracking, unhandledRejections, until, wakesAfter } from "./utils.js"



const open = (url: string, options?: Partial<NodeMcpTransport.StreamableHttpOptions>) =>
  McpSession.make({
    transport: NodeMcpTransport.streamableHttp({ url, ...options }),
    clientInfo,
    requestTimeout: "10 seconds"
  })

/** The session's transport was not declared dead, and it still carries calls. */
const livesOn = (session: McpSession.McpSession.Service) =>
  Effect.gen(function*() {
    const death = yield* Effect.fork(session.await)
    const result = yield* session.callTool({ name: "ok", arguments: {} })
    assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
    assert.isTrue(Option.isNone(yield* Fiber.poll(death)), "the transport was declared dead")
    yield* Fiber.interrupt(death)
  })

/** The session's transport was declared dead: how. */
const deathOf = (session: McpSession.McpSession.Service) =>
  Effect.exit(session.await).pipe(
    Effect.timeoutFail({ duration: "1 second", onTimeout: () => new Error("still alive") }),
    Effect.map(crashOf)
  )

describe.each(httpClients)("NodeMcpTransport.streamableHttp over $name", (client) => {
  it.scopedLive("the happy path: SSE and JSON answers", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      assert.strictEqual(session.serverInfo.name, "scripted")
      const sse = yield* session.callTool({ name: "ok", arguments: {} })
      assert.deepStrictEqual(sse.content[0], { type: "text", text: "ok" })
      const json = yield* session.callTool({ name: "json", arguments: {} })
      assert.deepStrictEqual(json.content[0], { type: "text", text: "ok" })
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a JSON answer larger than maxMessageBytes: StreamClosed, read no further", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url, { maxMessageBytes: 16 * 1024 })
      // a small JSON answer is still read
      const json = yield* session.callTool({ name: "json", arguments: {} })
      assert.deepStrictEqual(json.content[0], { type: "text", text: "ok" })
      const { crash, millis } = yield* crashing(session, "json-large")
      assert.strictEqual(crash.reason._tag, "StreamClosed")
      if (crash.reason._tag === "StreamClosed") {
        assert.include(crash.reason.detail, "exceeded the limit of 16384 bytes (content-length")
      }
      assert.isBelow(millis, 1000)
      // the call fails alone: the server is there, and the session goes on
      yield* livesOn(session)
      const endless = yield* crashing(session, "json-large-chunked")
      assert.strictEqual(endless.crash.reason._tag, "StreamClosed")
      if (endless.crash.reason._tag === "StreamClosed") {
        assert.include(endless.crash.reason.detail, "exceeded the limit of 16384 bytes (more than 16384 read)")
      }
      assert.isBelow(endless.millis, 1000)
      yield* livesOn(session)
      yield* until("the endless answer to be dropped", Effect.sync(() => server.openResponses() === 0))
    }).pipe(Effect.provide(client.layer)))

  // the id last (as the TypeScript SDK writes it), between two members, and first in an answer that never ends
  for (const tool of ["sse-large-answer", "sse-large-answer-id-middle", "sse-endless-answer"]) {
    it.scopedLive(`an SSE answer larger than maxMessageBytes (${tool}) fails its call alone; the session goes on`, () =>
      Effect.gen(function*() {
        const server = yield* scriptedServer
        const session = yield* open(server.url, { maxMessageBytes: 16 * 1024 })
        const { crash, millis } = yield* crashing(session, tool)
        assert.strictEqual(crash.reason._tag, "StreamClosed")
        if (crash.reason._tag === "StreamClosed") {
          assert.match(crash.reason.detail, /^the answer to request \d+: an SSE event exceeded the limit of 16384 bytes \((\d+) bytes read\)$/)
          const read = Number(/\((\d+) bytes read\)/.exec(crash.reason.detail)![1])
          // a whole answer when its id comes last or in the middle; the one that never ends, when it crossed the limit
          if (tool === "sse-endless-answer") assert.isBelow(read, 16 * 1024 + 8 * 1024 + 100)
          else assert.isAbove(read, 64 * 1024)
        }
        assert.strictEqual(crash.delivery, "MaybeDelivered")
        assert.isBelow(millis, 1000)
        yield* livesOn(session)
        yield* until("the stream to be dropped", Effect.sync(() => server.openResponses() === 0))
      }).pipe(Effect.provide(client.layer)))
  }

  it.scopedLive("a server's request larger than maxMessageBytes is answered at once with an error", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url, { maxMessageBytes: 16 * 1024 }).pipe(Logger.withMinimumLogLevel(LogLevel.None))
      const result = yield* session.callTool({ name: "sse-oversize-request", arguments: {} }).pipe(Logger.withMinimumLogLevel(LogLevel.None))
      const text = (result.content[0] as { text: string }).text
      assert.deepStrictEqual(JSON.parse(text), {
        jsonrpc: "2.0",
        id: "srv-1",
        error: { code: -32600, message: "the request exceeded the client's limit of 16384 bytes, and was not read" }
      })
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("an SSE event larger than maxMessageBytes that is no answer is dropped and logged; the answer after it arrives", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const logged: Array<string> = []
      const logger = Logger.make(({ message }) => void logged.push(String(message)))
      const session = yield* open(server.url, { maxMessageBytes: 16 * 1024 }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      const result = yield* session.callTool({ name: "sse-large", arguments: {} })
      assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
      assert.isTrue(logged.some((m) => m.includes("exceeded the limit of 16384 bytes, and was dropped")), logged.join("\n"))
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a JSON answer that is invalid, or lacks the answer, fails that call alone", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const invalid = yield* crashing(session, "json-invalid")
      assert.strictEqual(invalid.crash.reason._tag, "StreamClosed")
      if (invalid.crash.reason._tag === "StreamClosed") {
        assert.include(invalid.crash.reason.detail, "POST answered with an invalid message: not JSON")
      }
      assert.strictEqual(invalid.crash.delivery, "MaybeDelivered")
      yield* livesOn(session)
      const unanswered = yield* crashing(session, "json-unanswered")
      assert.strictEqual(unanswered.crash.reason._tag, "StreamClosed")
      if (unanswered.crash.reason._tag === "StreamClosed") {
        assert.include(unanswered.crash.reason.detail, "the JSON answer to a POST did not answer request(s)")
      }
      yield* livesOn(session)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a 200 answer that is neither JSON nor an event stream (text/html) fails that call alone; the next call succeeds", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const { crash, millis } = yield* crashing(session, "html")
      assert.deepStrictEqual(
        crash.reason,
        new McpError.HttpStatus({ status: 200, method: "POST", body: "unexpected content type text/html: <html><body>Please log in</body></html>" })
      )
      assert.strictEqual(crash.delivery, "MaybeDelivered")
      assert.isBelow(millis, 1000)
      yield* livesOn(session)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("403: HttpStatus with the body excerpt, not delivered", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const { crash, millis } = yield* crashing(session, "forbidden")
      assert.deepStrictEqual(crash.reason, new McpError.HttpStatus({ status: 403, method: "POST", body: "forbidden: policy says no" }))
      assert.strictEqual(crash.delivery, "NotDelivered")
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("500: HttpStatus, maybe delivered", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const { crash, millis } = yield* crashing(session, "error500")
      assert.deepStrictEqual(crash.reason, new McpError.HttpStatus({ status: 500, method: "POST", body: "internal kaboom" }))
      assert.strictEqual(crash.delivery, "MaybeDelivered")
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("429 and 503 carry the wait the server asked for (Retry-After, in seconds or as a date)", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const limited = yield* crashing(yield* open(server.url), "rate-limited")
      assert.deepStrictEqual(
        limited.crash.reason,
        new McpError.HttpStatus({ status: 429, method: "POST", body: "too many requests", retryAfter: Duration.seconds(7) })
      )
      assert.strictEqual(limited.crash.delivery, "NotDelivered")
      assert.include(limited.crash.message, "answered 429 (retry after 7s)")
      const unavailable = yield* crashing(yield* open(server.url), "unavailable")
      assert.strictEqual(unavailable.crash.reason._tag, "HttpStatus")
      const wait = unavailable.crash.reason._tag === "HttpStatus" ? unavailable.crash.reason.retryAfter : undefined
      assert.isDefined(wait)
      // an HTTP date has whole seconds
      assert.isAtLeast(Duration.toMillis(wait!), 88_000)
      assert.isAtMost(Duration.toMillis(wait!), 90_000)
      const unreadable = yield* crashing(yield* open(server.url), "retry-after-unreadable")
      assert.deepStrictEqual(
        unreadable.crash.reason,
        new McpError.HttpStatus({ status: 429, method: "POST", body: "too many requests" })
      )
    }).pipe(Effect.provide(client.layer)))

  it.scoped("a resilient session waits a 429's Retry-After on the Clock before it rebuilds, then replays the call", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const { session } = yield* McpSession.makeResilient(
        { transport: NodeMcpTransport.streamableHttp({ url: server.url }), clientInfo },
        McpSessionPolicy.make({ keepAlive: false })
      )
      const initializes = () => server.requests.filter((r) => r.rpc === "initialize").length
      const call = yield* Effect.fork(session.callTool({ name: "rate-limited-once", arguments: {} }))
      // the 429 killed the transport; the rebuild waits what the server asked, not the schedule's 0 ms
      yield* wakesAfter(7000, Effect.sync(() => assert.strictEqual(initializes(), 1, "rebuilt before the server's Retry-After")))
      // a 429 is NotDelivered: the call is replayed on the rebuilt session, and answered
      const result = yield* Fiber.join(call)
      assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
      assert.strictEqual(initializes(), 2)
      assert.strictEqual(server.requests.filter((r) => r.rpc === "tools/call").length, 2)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("connection reset while the POST is open, server still there: ConnectionFailed after send, that call alone", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const { crash, millis } = yield* crashing(session, "reset")
      assert.strictEqual(crash.reason._tag, "ConnectionFailed")
      if (crash.reason._tag === "ConnectionFailed") assert.isFalse(crash.reason.beforeSend)
      assert.strictEqual(crash.delivery, "MaybeDelivered")
      assert.isBelow(millis, 1000)
      // the transport asked whether the server is there (no credentials, no session id), and it was
      const probe = server.requests.find((r) => r.method === "OPTIONS")
      assert.isDefined(probe)
      assert.isUndefined(probe?.headers["mcp-session-id"])
      yield* livesOn(session)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("many POSTs reset at once (a live server closing idle connections): each call alone, one probe for all", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const results = yield* Effect.forEach(
        Array.from({ length: 5 }),
        () => crashing(session, "reset-slow-probe"),
        { concurrency: "unbounded" }
      )
      for (const { crash, millis } of results) {
        assert.strictEqual(crash.reason._tag, "ConnectionFailed")
        assert.isBelow(millis, 1000)
      }
      assert.strictEqual(server.requests.filter((r) => r.method === "OPTIONS").length, 1)
      yield* livesOn(session)
    }).pipe(Effect.provide(client.layer)))

  it.scoped("a probe that gets no answer (a hung server) is bounded by resumption.timeout, on the Clock: the transport is dead", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url, { resumption: { timeout: "2 seconds" } })
      const call = yield* Effect.fork(session.callTool({ name: "reset-hung", arguments: {} }))
      yield* until("the probe", Effect.sync(() => server.requests.some((r) => r.method === "OPTIONS")))
      yield* wakesAfter(2000, Effect.sync(() => assert.isNull(call.unsafePoll(), "the call failed before the probe's bound")))
      const crash = crashOf(yield* Fiber.await(call))
      assert.strictEqual(crash.reason._tag, "ConnectionFailed")
      assert.strictEqual((yield* deathOf(session)).reason._tag, "ConnectionFailed")
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("connection closed while the POST is open, server gone: the transport is dead", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const { crash, millis } = yield* crashing(session, "reset-stop")
      assert.strictEqual(crash.reason._tag, "ConnectionFailed")
      if (crash.reason._tag === "ConnectionFailed") assert.isFalse(crash.reason.beforeSend)
      assert.isBelow(millis, 1000)
      assert.strictEqual((yield* deathOf(session)).reason._tag, "ConnectionFailed")
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("connection refused: the session fails to open with ConnectionFailed before send", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const { exit, millis } = yield* timed(open(`http://127.0.0.1:${port}/mcp`))
      const crash = crashOf(exit)
      assert.strictEqual(crash.reason._tag, "ConnectionFailed")
      if (crash.reason._tag === "ConnectionFailed") {
        assert.isTrue(crash.reason.beforeSend)
        assert.include(crash.reason.detail, "ECONNREFUSED")
      }
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("an SSE answer cut before the answer (no event id), server still there: StreamClosed at once, that call alone", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const { crash, millis } = yield* crashing(session, "sse-cut")
      assert.strictEqual(crash.reason._tag, "StreamClosed")
      if (crash.reason._tag === "StreamClosed") assert.include(crash.reason.detail, "was cut")
      assert.strictEqual(crash.delivery, "MaybeDelivered")
      assert.isBelow(millis, 1000)
      // a proxy cutting a long answer looks like this: the server answers the probe, the session goes on
      assert.isDefined(server.requests.find((r) => r.method === "OPTIONS"))
      yield* livesOn(session)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("an SSE answer cut before the answer (no event id), server gone: StreamClosed at once, the transport is dead", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const { crash, millis } = yield* crashing(session, "sse-cut-stop")
      assert.strictEqual(crash.reason._tag, "StreamClosed")
      assert.strictEqual(crash.delivery, "MaybeDelivered")
      assert.isBelow(millis, 1000)
      assert.strictEqual((yield* deathOf(session)).reason._tag, "StreamClosed")
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("an SSE answer that ends cleanly without the answer: that call fails at once, alone", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const other = yield* Effect.fork(session.callTool({ name: "slow", arguments: { after: 300 } }))
      const { crash, millis } = yield* crashing(session, "sse-end")
      assert.strictEqual(crash.reason._tag, "StreamClosed")
      if (crash.reason._tag === "StreamClosed") assert.include(crash.reason.detail, "ended before answering")
      assert.strictEqual(crash.delivery, "MaybeDelivered")
      assert.isBelow(millis, 1000)
      // the server ended the stream itself: it is there, and the call on another stream gets its answer
      const answered = yield* Fiber.join(other)
      assert.deepStrictEqual(answered.content[0], { type: "text", text: "ok" })
      yield* livesOn(session)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a resumable stream cut mid-answer is resumed with Last-Event-ID and the call succeeds", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const { exit, millis } = yield* timed(session.callTool({ name: "resumable-cut", arguments: {} }))
      assert.isTrue(Exit.isSuccess(exit))
      const resume = server.requests.find((r) => r.method === "GET" && r.headers["last-event-id"] !== undefined)
      assert.strictEqual(resume?.headers["last-event-id"], "ev-1")
      assert.strictEqual(resume?.headers["mcp-session-id"], "scripted-session-1")
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(client.layer)))

  it.scoped("streams cut in the same moment are resumed one at a time: the second waits for the first one's answer", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const call = session.callTool({ name: "resumable-cut-together", arguments: {} })
      const results = yield* Effect.all([call, call], { concurrency: "unbounded" })
      for (const result of results) assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
      const [first, second] = server.together
      assert.strictEqual(server.together.length, 2)
      assert.notStrictEqual(first!.lastEventId, second!.lastEventId)
      // the first resumption was answered 150 ms late; the second was not sent before that answer
      assert.isDefined(first!.answeredAt)
      assert.isAtLeast(second!.at, first!.answeredAt!)
    }).pipe(Effect.provide(client.layer)))

  it.scoped("streams cut together by a dying server: one refused resumption kills the transport, the other sends none", () => {
    // the resumptions the transport sends, counted as they leave through the HttpClient
    let resumptions = 0
    const counting = Layer.effect(
      HttpClient.HttpClient,
      Effect.map(HttpClient.HttpClient, (http) =>
        HttpClient.tapRequest(http, (request) =>
          Effect.sync(() => {
            if (request.method === "GET" && request.headers["last-event-id"] !== undefined) resumptions++
          })))
    ).pipe(Layer.provide(client.layer))
    return Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const call = session.callTool({ name: "resumable-cut-together-dying", arguments: {} })
      const exits = yield* Effect.all([Effect.exit(call), Effect.exit(call)], { concurrency: "unbounded" })
      for (const exit of exits) assert.strictEqual(crashOf(exit)?.reason._tag, "ConnectionFailed")
      assert.strictEqual(resumptions, 1)
    }).pipe(Effect.provide(counting))
  })

  // MCP 2025-11-25 (SEP-1699): a server may end a stream on purpose and expect to be polled after the
  // reconnection time it set with the SSE `retry` field. The wait runs on Effect's Clock.
  for (const { retry, maxRetryDelay, waits } of [
    { retry: 300, maxRetryDelay: undefined, waits: 300 },
    { retry: 3_600_000, maxRetryDelay: "2 seconds", waits: 2000 }
  ] as const) {
    it.scoped(`a server that ends its stream after setting retry: ${retry} is polled after ${waits} ms, not before`, () =>
      Effect.gen(function*() {
        const server = yield* scriptedServer
        const session = yield* open(server.url, { resumption: { maxRetryDelay } })
        const call = yield* Effect.fork(session.callTool({ name: "polled", arguments: { retry, close: "end" } }))
        // the server ends the stream 20 ms (real time) after its priming event; the transport then sleeps
        yield* until("the server's end of the stream", Effect.sync(() => server.lastFault() > 0))
        yield* wakesAfter(waits, Effect.sync(() => assert.strictEqual(server.lastResume(), 0, "resumed before the server's reconnection time")))
        const result = yield* Fiber.join(call)
        assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
        const resume = server.requests.find((r) => r.method === "GET" && r.headers["last-event-id"] !== undefined)
        assert.strictEqual(resume?.headers["last-event-id"], "ev-1")
      }).pipe(Effect.provide(client.layer)))
  }

  it.scoped("a resumption answered 503 with Retry-After is tried again after that wait, on the Clock, not the delay", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const resumptions = () => server.requests.filter((r) => r.method === "GET" && r.headers["last-event-id"] !== undefined).length
      const call = yield* Effect.fork(session.callTool({ name: "resumable-cut-503", arguments: {} }))
      // the cut stream is resumed at once; the server answers 503 and asks for 4 s
      yield* until("the first resumption", Effect.sync(() => resumptions() === 1))
      yield* wakesAfter(4000, Effect.sync(() => assert.strictEqual(resumptions(), 1, "resumed before the server's Retry-After")))
      const result = yield* Fiber.join(call)
      assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
      assert.strictEqual(resumptions(), 2)
    }).pipe(Effect.provide(client.layer)))

  it.scoped("a server that keeps ending its streams without the answer, and sets no retry, is polled every delay", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const resumptions = () => server.requests.filter((r) => r.method === "GET" && r.headers["last-event-id"] !== undefined).length
      const call = yield* Effect.fork(session.callTool({ name: "polled", arguments: { retry: null, close: "end", empty: 2 } }))
      for (const expected of [1, 2, 3]) {
        yield* sleepingFor(100)
        assert.strictEqual(resumptions(), expected - 1, "polled before the delay")
        yield* TestClock.adjust(100)
        if (expected < 3) yield* until(`poll ${expected}`, Effect.sync(() => resumptions() === expected))
      }
      const result = yield* Fiber.join(call)
      assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
      assert.strictEqual(resumptions(), 3)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a resumed stream is closed once it has delivered its answer, even if the server holds it open", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      for (let call = 0; call < 3; call++) {
        const result = yield* session.callTool({ name: "polled", arguments: { retry: 10, close: "cut", hold: true } })
        assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
      }
      yield* until("the resumed streams to close", Effect.sync(() => server.openResponses() === 0))
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a stream cut after setting retry is resumed at once: a cut is not the server's plan", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const { exit } = yield* timed(session.callTool({ name: "polled", arguments: { retry: 5000, close: "cut" } }))
      assert.isTrue(Exit.isSuccess(exit))
      assert.isBelow(server.lastResume() - server.lastFault(), 1000)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a resumable stream whose server is gone: ConnectionFailed at once", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const { crash, millis } = yield* crashing(session, "resumable-cut-refused")
      assert.strictEqual(crash.reason._tag, "ConnectionFailed")
      if (crash.reason._tag === "ConnectionFailed") assert.include(crash.reason.detail, "ECONNREFUSED")
      assert.strictEqual(crash.delivery, "MaybeDelivered")
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a dying server that resets the resumptions: retried at once, then ConnectionFailed", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      // a delay far above the bound below: only an immediate second attempt can meet it
      const session = yield* open(server.url, { resumption: { attempts: 3, delay: "30 seconds" } })
      const { crash, millis } = yield* crashing(session, "resumable-cut-dying")
      assert.strictEqual(crash.reason._tag, "ConnectionFailed")
      if (crash.reason._tag === "ConnectionFailed") assert.include(crash.reason.detail, "ECONNREFUSED")
      assert.strictEqual(server.requests.filter((r) => r.method === "GET" && r.headers["last-event-id"]).length, 2)
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a resumable stream whose resumption keeps failing: StreamClosed after bounded attempts", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url, { resumption: { attempts: 3, delay: "20 millis" } })
      const { crash, millis } = yield* crashing(session, "resumable-cut-500")
      assert.strictEqual(crash.reason._tag, "StreamClosed")
      if (crash.reason._tag === "StreamClosed") assert.include(crash.reason.detail, "gave up resuming it after 3")
      assert.strictEqual(server.requests.filter((r) => r.method === "GET" && r.headers["last-event-id"]).length, 3)
      // 0 + 20 + 40 ms of delays
      assert.isBelow(millis, 1000)
      // the server answered every resumption: it is there, only this call is lost
      yield* livesOn(session)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a resumable stream whose server does not offer GET (405): that call fails at once, alone", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url, { resumption: { delay: "30 seconds" } })
      const { crash, millis } = yield* crashing(session, "resumable-cut-405")
      assert.strictEqual(crash.reason._tag, "StreamClosed")
      if (crash.reason._tag === "StreamClosed") assert.include(crash.reason.detail, "the server does not offer GET (405)")
      assert.isBelow(millis, 1000)
      yield* livesOn(session)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("resumption answered 404: SessionExpired", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const { crash, millis } = yield* crashing(session, "resumable-cut-expired")
      assert.strictEqual(crash.reason._tag, "SessionExpired")
      // it was delivered before the session expired
      assert.strictEqual(crash.delivery, "MaybeDelivered")
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a stale session (404, or 400 \"No valid session ID\"): SessionExpired, not delivered", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const notFound = yield* crashing(yield* open(server.url), "stale404")
      assert.deepStrictEqual(notFound.crash.reason, new McpError.SessionExpired({ status: 404, detail: "Session not found" }))
      assert.strictEqual(notFound.crash.delivery, "NotDelivered")
      const badRequest = yield* crashing(yield* open(server.url), "stale400")
      assert.strictEqual(badRequest.crash.reason._tag, "SessionExpired")
      if (badRequest.crash.reason._tag === "SessionExpired") {
        assert.strictEqual(badRequest.crash.reason.status, 400)
        assert.include(badRequest.crash.reason.detail, "No valid session ID")
      }
      assert.isBelow(Math.max(notFound.millis, badRequest.millis), 1000)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("crash/rebuild cycles of a resilient session leave no dead transport reachable", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const tracked = tracking(NodeMcpTransport.streamableHttp({ url: server.url }))
      const { lifecycle, session } = yield* McpSession.makeResilient(
        { transport: tracked.transport, clientInfo, requestTimeout: "10 seconds" },
        McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.spaced("10 millis") })
      )
      for (let generation = 2; generation <= 4; generation++) {
        // the server forgets the session: SessionExpired, and a new session
        const error = failureOf(yield* Effect.exit(session.callTool({ name: "stale404", arguments: {} }, { replay: "Never" })))
        assert.strictEqual((error as McpError.TransportCrashed).reason._tag, "SessionExpired")
        yield* until(
          `generation ${generation}`,
          Effect.map(lifecycle.state, (s) => s._tag === "Connected" && s.generation === generation)
        )
        yield* livesOn(session)
      }
      const reachable = yield* tracked.reachable(1)
      assert.strictEqual(tracked.opened(), 4)
      assert.strictEqual(reachable, 1, `${reachable} of 4 transports still reachable`)
    }).pipe(Effect.provide(client.layer), Logger.withMinimumLogLevel(LogLevel.Error)))

  // the transport's own redirect rules; an HttpClient that follows redirects itself (fetch) never shows it one
  it.scopedLive.skipIf(client.followsRedirects)("a 307 within the origin (a server mounted elsewhere) is followed, method and body kept", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url.replace("/mcp", "/moved"))
      const result = yield* session.callTool({ name: "ok", arguments: {} })
      assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
      const moved = server.requests.filter((r) => r.path === "/moved").map((r) => r.method)
      const served = server.requests.filter((r) => r.path === "/mcp" && r.method === "POST").map((r) => r.rpc)
      assert.includeMembers(moved, ["POST"])
      assert.includeMembers(served, ["initialize", "tools/call"])
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive.skipIf(client.followsRedirects)("a redirect to another origin is refused: HttpStatus, and nothing is sent there", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const exit = yield* Effect.exit(open(server.url.replace("/mcp", "/away"), { headers: { authorization: "Bearer s3cret" } }))
      const crash = crashOf(exit)
      assert.strictEqual(crash.reason._tag, "HttpStatus")
      if (crash.reason._tag === "HttpStatus") {
        assert.strictEqual(crash.reason.status, 307)
        assert.include(crash.reason.body, "another origin")
      }
      assert.notInclude(crash.message, "s3cret")
      assert.deepStrictEqual(server.requests.filter((r) => r.headers.host?.startsWith("localhost")), [])
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive.skipIf(client.followsRedirects)("a redirect loop is bounded: HttpStatus after 5 redirects", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const { exit, millis } = yield* timed(open(server.url.replace("/mcp", "/loop")))
      const crash = crashOf(exit)
      assert.strictEqual(crash.reason._tag, "HttpStatus")
      if (crash.reason._tag === "HttpStatus") assert.include(crash.reason.body, "more than 5 redirects")
      assert.strictEqual(server.requests.filter((r) => r.path === "/loop").length, 6)
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a server that never answers: bounded by the call's timeout", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const exit = yield* Effect.exit(session.callTool({ name: "hang", arguments: {} }, { timeout: "200 millis" }))
      assert.strictEqual((failureOf(exit) as { _tag: string })._tag, "RequestTimeout")
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("headers: static Redacted and computed per request; never in error messages", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      let n = 0
      const tokens = yield* open(server.url, {
        headers: Effect.sync(() => ({ authorization: Redacted.make(`Bearer token-${++n}`) }))
      })
      yield* tokens.callTool({ name: "ok", arguments: {} })
      // one fresh value per request (the POSTs and the standalone GET)
      const seen = server.requests.map((r) => r.headers.authorization)
      assert.isAtLeast(seen.length, 3)
      assert.deepStrictEqual([...seen].sort(), seen.map((_, i) => `Bearer token-${i + 1}`).sort())

      // every log line at every level, while a session with a secret header crashes
      const logged: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ annotations, message }) => void logged.push(`${JSON.stringify(message)} ${JSON.stringify([...annotations])}`))
      )
      const secret = "very-secret-value"
      const { crash, transport } = yield* Effect.gen(function*() {
        const fixed = yield* open(server.url, { headers: { "x-tenant-key": secret, "x-other": Redacted.make(secret) } })
        const { crash } = yield* crashing(fixed, "forbidden")
        // the death, logged where it is noticed
        yield* Effect.exit(fixed.await)
        return { crash, transport: fixed.transport }
      }).pipe(Effect.provide(capture), Logger.withMinimumLogLevel(LogLevel.All))
      assert.strictEqual(server.requests.at(-1)?.headers["x-tenant-key"], secret)
      assert.strictEqual(server.requests.at(-1)?.headers["x-other"], secret)
      assert.notInclude(crash.message, secret)
      assert.notInclude(JSON.stringify(crash), secret)
      assert.notInclude(transport, secret)
      assert.isAbove(logged.length, 0)
      assert.notInclude(logged.join("\n"), secret)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("no header value in any error: refused, reset (server there, or gone), a refused resumption", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      for (const { headers } of secretHeaders) {
        const options = headers !== undefined ? { headers } : {}
        // the session fails to open: nobody listens; the network error is kept, for debugging
        yield* assertRefusedWithoutSecret(open(`http://127.0.0.1:${port}/mcp`, options))
        // mid-session: the call fails alone (reset, the server is there), or the transport dies with it
        for (const tool of ["reset", "reset-stop", "resumable-cut-refused"]) {
          const server = yield* scriptedServer
          const session = yield* open(server.url, options)
          const { crash } = yield* crashing(session, tool)
          assert.strictEqual(crash.reason._tag, "ConnectionFailed")
          assert.isDefined(crash.cause, `${tool}: the network error is kept`)
          yield* assertNoSecret(crash, secrets, tool)
          if (tool !== "reset") yield* assertNoSecret(yield* deathOf(session), secrets, `${tool}: the transport's death`)
        }
      }
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a headers Effect whose failure quotes a secret: only its kind is told, nothing of it is kept", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const secret = "SECRET-IN-THE-FAILURE"
      const refused = crashOf(yield* Effect.exit(open(server.url, { headers: Effect.fail(new Error(`refresh with ${secret} failed`)) })))
      assert.strictEqual(refused.reason.description, "connection failed: computing the request headers failed (Error)")
      yield* assertNoSecret(refused, [secret], "at open")
      // mid-session
      let failing = false
      const session = yield* open(server.url, {
        headers: Effect.suspend(() =>
          failing ? Effect.fail({ _tag: "TokenExpired", token: secret }) : Effect.succeed({ authorization: Redacted.make("Bearer ok") })
        )
      })
      failing = true
      const { crash } = yield* crashing(session, "ok")
      assert.strictEqual(crash.reason.description, "connection failed: computing the request headers failed (TokenExpired)")
      yield* assertNoSecret(crash, [secret], "mid-session")
      yield* assertNoSecret(yield* deathOf(session), [secret], "the transport's death")
    }).pipe(Effect.provide(client.layer)))

  it.scoped("a header value with CR/LF: InvalidConfiguration, not delivered, nothing sent; a resilient session gives up at once", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const secret = "SECRET-CRLF"
      const injected = `Bearer ${secret}\r\nx-injected: 1`
      for (const headers of [{ authorization: injected }, { authorization: Redacted.make(injected) }]) {
        const refused = crashOf(yield* Effect.exit(open(server.url, { headers })))
        assert.deepStrictEqual(
          refused.reason,
          new McpError.InvalidConfiguration({
            detail: `the value of header "authorization" holds a character HTTP does not allow (CR, LF, NUL or another control)`
          })
        )
        assert.strictEqual(refused.delivery, "NotDelivered")
        assert.isFalse(refused.retryable)
        yield* assertNoSecret(refused, [secret], "at open")
      }
      // the TestClock never moves: a retry would wait on it for ever
      const error = failureOf(yield* Effect.exit(McpSession.makeResilient(
        { transport: NodeMcpTransport.streamableHttp({ url: server.url, headers: { "x-key": `${secret}\n` } }), clientInfo },
        McpSessionPolicy.make({ keepAlive: false })
      )))
      assert.isTrue(McpError.isGaveUp(error), String(error))
      assert.strictEqual((error as McpError.GaveUp).attempts, 1)
      yield* assertNoSecret(error, [secret], "GaveUp")
      // mid-session, a computed header goes bad: that request is refused, never sent
      let bad = false
      const session = yield* open(server.url, {
        headers: Effect.sync(() => ({ "x-key": bad ? `${secret}\r` : "fine" }))
      })
      bad = true
      const posts = server.requests.filter((r) => r.method === "POST").length
      const { crash } = yield* crashing(session, "ok")
      assert.strictEqual(crash.reason._tag, "InvalidConfiguration")
      assert.strictEqual(crash.delivery, "NotDelivered")
      yield* assertNoSecret(crash, [secret], "mid-session")
      assert.strictEqual(server.requests.filter((r) => r.method === "POST").length, posts)
      assert.isFalse(server.requests.some((r) => r.headers["x-injected"] !== undefined))
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("headers that cannot be computed: ConnectionFailed before send", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const exit = yield* Effect.exit(open(server.url, { headers: Effect.fail("token endpoint down") }))
      const crash = crashOf(exit)
      assert.strictEqual(crash.reason._tag, "ConnectionFailed")
      if (crash.reason._tag === "ConnectionFailed") assert.isTrue(crash.reason.beforeSend)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("initialize refused while a session was named: InitializeFailed, and the interrupted close leaves no unhandled rejection", () =>
    Effect.gen(function*() {
      // The SDK closes the transport itself, unawaited, when initialize fails, and the session's scope then
      // interrupts that close (its DELETE, should it go out, is never answered). A rejection nobody handles
      // would end a host process that runs with Node's default `--unhandled-rejections=throw`.
      const unhandled = yield* unhandledRejections
      const server = yield* scriptedServer
      const exit = yield* Effect.exit(Effect.scoped(open(server.url, { headers: { "x-initialize": "error", "x-delete": "hang" } })))
      const error = failureOf(exit)
      assert.strictEqual(error._tag, "InitializeFailed")
      assert.match(error.message, /not today/)
      // Node reports an unhandled rejection once the microtasks have run
      yield* Effect.sleep("100 millis")
      assert.deepStrictEqual(unhandled.map(String), [])
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("closing: DELETE is sent, pending calls are failed, no stream or socket is left open", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const scope = yield* Scope.make()
      // the HttpClient (its connection pool) lives in the session's scope too
      const built = yield* Layer.buildWithScope(client.layer, scope)
      const session = yield* open(server.url).pipe(Effect.provide(built), Scope.extend(scope))
      const pending = yield* Effect.fork(Effect.exit(session.callTool({ name: "hang", arguments: {} })))
      yield* Effect.sleep("50 millis")
      assert.isAbove(server.openResponses(), 0)
      const { millis } = yield* timed(Scope.close(scope, Exit.void))
      assert.strictEqual(crashOf(yield* pending).reason._tag, "Closed")
      const del = server.requests.find((r) => r.method === "DELETE")
      assert.strictEqual(del?.headers["mcp-session-id"], "scripted-session-1")
      assert.isBelow(millis, 1500)
      // the server sees its sockets close a moment later; only a global pool's idle keep-alive sockets stay
      yield* Effect.sleep("50 millis")
      assert.strictEqual(server.openResponses(), 0)
      if (client.ownsPool) assert.strictEqual(server.openSockets(), 0)
    }))

  it.scopedLive("interrupting a call sends notifications/cancelled", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url)
      const fiber = yield* Effect.fork(session.callTool({ name: "hang", arguments: {} }))
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(fiber)
      yield* Effect.sleep("50 millis")
      assert.isDefined(server.requests.find((r) => r.rpc === "notifications/cancelled"))
      // the transport lives on
      yield* session.callTool({ name: "json", arguments: {} })
    }).pipe(Effect.provide(client.layer)))

  it.scoped("a cancelled call (its timeout, or its caller's interruption) is let go: its POST and its stream are closed, not resumed; the standalone stream stays", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url, { headers: { "x-standalone": "hold" } })
      yield* until("the standalone stream", Effect.sync(() => server.standaloneOpen() === 1))
      // `hang`: answered with an SSE stream that never carries anything; `hang-json`: never answered at all
      const timedOut = yield* Effect.fork(Effect.exit(session.callTool({ name: "hang", arguments: {} }, { timeout: "1 second" })))
      const interrupted = yield* Effect.fork(session.callTool({ name: "hang-json", arguments: {} }))
      yield* until("both calls on the server", Effect.sync(() => server.hung.length === 2))
      yield* TestClock.adjust("1 second")
      assert.strictEqual((failureOf(yield* Fiber.join(timedOut)) as { _tag: string })._tag, "RequestTimeout")
      yield* Fiber.interrupt(interrupted)
      // the SDK tells the server; the server answers neither call then, and holds both open
      yield* until("both cancellations", Effect.sync(() => server.hung.every((h) => h.cancelledAt !== undefined)))
      // the client closes them: a socket and a fiber per abandoned call would otherwise stay for the session's life
      yield* until("both responses closed by the client", Effect.sync(() => server.hung.every((h) => h.closedAt !== undefined)))
      for (const h of server.hung) assert.isBelow(h.closedAt! - h.cancelledAt!, 1000, `${h.tool} closed late`)
      assert.strictEqual(server.standaloneOpen(), 1)
      assert.isUndefined(server.requests.find((r) => r.headers["last-event-id"] !== undefined))
      yield* livesOn(session)
      assert.strictEqual(server.standaloneOpen(), 1)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a notification whose POST broke while the server is there is sent once more", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url, { headers: { "x-lose-first-cancel": "1" } })
      const fiber = yield* Effect.fork(session.callTool({ name: "hang", arguments: {} }))
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(fiber)
      const cancels = () => server.requests.filter((r) => r.rpc === "notifications/cancelled").length
      yield* until("the cancellation to be sent again", Effect.sync(() => cancels() === 2))
      assert.isDefined(server.requests.find((r) => r.method === "OPTIONS"))
      yield* livesOn(session)
      assert.strictEqual(cancels(), 2)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("an event over maxMessageBytes on the standalone stream is dropped; the stream and the session go on", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url, { maxMessageBytes: 16 * 1024, headers: { "x-standalone": "oversize" } })
      const next = yield* session.notifications.pipe(Stream.runHead, Effect.timeout("5 seconds"))
      assert.deepStrictEqual(Option.map(next, (n) => (n.params as { data?: unknown }).data), Option.some("after the large one"))
      yield* livesOn(session)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a server that answers the standalone GET with 404 (unrouted) is not an expired session", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url, { headers: { "x-get-status": "404" } })
      yield* Effect.sleep("50 millis")
      assert.isDefined(server.requests.find((r) => r.method === "GET"))
      const result = yield* session.callTool({ name: "json", arguments: {} })
      assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
    }).pipe(Effect.provide(client.layer)))
})

describe("NodeMcpTransport.streamableHttp over fetch with redirect: manual", () => {
  // the documented way to hand a fetch client's redirects to the transport's rules
  const manual = FetchHttpClient.layer.pipe(Layer.provide(Layer.succeed(FetchHttpClient.RequestInit, { redirect: "manual" })))

  it.scopedLive("a 307 within the origin is followed; one to another origin is refused, nothing sent there", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url.replace("/mcp", "/moved"))
      const result = yield* session.callTool({ name: "ok", arguments: {} })
      assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
      const crash = crashOf(yield* Effect.exit(open(server.url.replace("/mcp", "/away"))))
      assert.strictEqual(crash.reason._tag, "HttpStatus")
      if (crash.reason._tag === "HttpStatus") assert.include(crash.reason.body, "another origin")
      assert.deepStrictEqual(server.requests.filter((r) => r.headers.host?.startsWith("localhost")), [])
    }).pipe(Effect.provide(manual)))
})

describe("an HttpClient layer provided to McpSession.make alone (Effect.provide)", () => {
  const advice = /Provide the HttpClient layer around the scope that uses the session/

  it.scopedLive("undici: its scope closes when make returns; the first call fails at once with InvalidConfiguration that says what to do", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url).pipe(Effect.provide(NodeHttpClient.layerUndici))
      const { crash, millis } = yield* crashing(session, "ok")
      assert.strictEqual(crash.reason._tag, "InvalidConfiguration")
      assert.match(crash.message, advice)
      assert.match(crash.message, /Layer\.provide/)
      assert.strictEqual(crash.delivery, "NotDelivered")
      assert.isFalse(crash.retryable)
      assert.isBelow(millis, 1000)
      assert.isFalse(server.requests.some((r) => r.rpc === "tools/call"))
    }))

  it.scopedLive("undici, a standalone stream open: the transport dies at once, before any call, saying why", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const session = yield* open(server.url, { headers: { "x-standalone": "hold" } }).pipe(Effect.provide(NodeHttpClient.layerUndici))
      const death = yield* deathOf(session)
      assert.strictEqual(death.reason._tag, "InvalidConfiguration")
      assert.match(death.message, advice)
    }))

  it.scoped("undici, resilient: GaveUp after one rebuild attempt, with the advice, the Clock unmoved", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const { session } = yield* McpSession.makeResilient(
        { transport: NodeMcpTransport.streamableHttp({ url: server.url }), clientInfo },
        McpSessionPolicy.make({ keepAlive: false })
      ).pipe(Effect.provide(NodeHttpClient.layerUndici))
      const error = failureOf(yield* Effect.exit(session.callTool({ name: "ok", arguments: {} })))
      assert.isTrue(McpError.isGaveUp(error), String(error))
      assert.strictEqual((error as McpError.GaveUp).attempts, 1)
      assert.match((error as McpError.GaveUp).message, advice)
    }))

  for (const client of httpClients.filter((c) => c.name !== "undici")) {
    it.scopedLive(`${client.name}: the session works (its client needs no open scope)`, () =>
      Effect.gen(function*() {
        const server = yield* scriptedServer
        const session = yield* open(server.url).pipe(Effect.provide(client.layer))
        yield* livesOn(session)
      }))
  }
})
