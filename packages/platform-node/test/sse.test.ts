/**
 * Legacy HTTP+SSE faults, scripted by a server in this process.
 */
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import { McpError, McpSession } from "@effect-mcp/session"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as http from "node:http"
import type * as net from "node:net"
import { assertNoSecret, assertRefusedWithoutSecret, secretHeaders, secrets } from "./secrets.js"
import { clientInfo, crashing, crashOf, failureOf, freePort, httpClients, timed, until } from "./utils.js"

interface LegacyServer {
  readonly url: string
  readonly openSockets: () => number
  /** Responses begun and neither finished nor cut: streams a client still holds open. */
  readonly openResponses: () => number
  /** How many times the transport asked whether the server is there (`OPTIONS`). */
  readonly probes: () => number
  /** The paths the client posted to, in order. */
  readonly posts: () => ReadonlyArray<string>
}

interface LegacyOptions {
  /**
   * Answers a GET itself instead of the stream above: "stream" when its answer is the event stream the
   * server then writes on, true for any other answer, false to leave the GET to the stream above.
   */
  readonly get?: ((req: http.IncomingMessage, res: http.ServerResponse) => boolean | "stream") | undefined
  /** Never answers the POSTs of notifications. */
  readonly hangNotifications?: boolean | undefined
}

/**
 * GET /sse names `/message?sessionId=1` (or `endpoint`), then answers every request on the stream; a
 * `tools/call` of `forbidden`, `gone` or `cut` fails as its name says; `hang` is never answered, and
 * `answer-hang` is answered on the stream while its POST never is.
 */
const legacyServer = (endpoint = "/message?sessionId=1", options?: LegacyOptions) =>
  Effect.acquireRelease(
    Effect.async<{
      server: http.Server
      sockets: Set<net.Socket>
      responses: Set<http.ServerResponse>
      probes: () => number
      posts: Array<string>
      url: string
    }>((resume) => {
      const posts: Array<string> = []
      const sockets = new Set<net.Socket>()
      const responses = new Set<http.ServerResponse>()
      let stream: http.ServerResponse | undefined
      let probes = 0
      /** Who waits for the client's next answer to a request of the server's. */
      let onClientAnswer: ((message: unknown) => void) | undefined
      const server = http.createServer((req, res) => {
        responses.add(res)
        res.on("close", () => responses.delete(res))
        if (req.url === "/moved") {
          // where the event stream used to be
          res.writeHead(301, { location: "/sse" }).end()
          return
        }
        if (req.method === "OPTIONS") {
          // what the transport asks to learn whether the server is there
          probes++
          res.writeHead(204, { allow: "GET, POST" }).end()
          return
        }
        if (req.method === "GET") {
          const answered = options?.get?.(req, res) ?? false
          if (answered !== false) {
            if (answered === "stream") stream = res
            return
          }
          res.writeHead(200, { "content-type": "text/event-stream" })
          res.write(`event: endpoint\ndata: ${endpoint}\n\n`)
          stream = res
          return
        }
        posts.push(req.url ?? "")
        let body = ""
        req.on("data", (chunk: Buffer) => (body += chunk.toString()))
        req.on("end", () => {
          const rpc = JSON.parse(body)
          if (options?.hangNotifications === true && rpc.id === undefined) return
          const send = (message: unknown) => stream?.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`)
          if (rpc.method === undefined && rpc.id !== undefined) {
            // the client's answer to a request of the server's
            res.writeHead(202).end("Accepted")
            onClientAnswer?.(rpc)
            return
          }
          if (rpc.method === "initialize") {
            res.writeHead(202).end("Accepted")
            send({
              jsonrpc: "2.0",
              id: rpc.id,
              result: { protocolVersion: rpc.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: "legacy", version: "1" } }
            })
            return
          }
          switch (rpc.params?.name) {
            case "forbidden":
              res.writeHead(403).end("no entry")
              return
            case "busy":
              res.writeHead(503, { "retry-after": "12" }).end("busy")
              return
            case "gone":
              res.writeHead(404).end("Session not found")
              return
            case "reset":
              // the POST's connection dies before any answer; the server lives on
              req.socket.resetAndDestroy()
              return
            case "reset-stop":
              // the server dies while the POST is open
              server.close()
              for (const socket of sockets) socket.destroy()
              return
            case "large":
              // the answer above the client's limit, written as the TypeScript SDK does (the id last)
              res.writeHead(202).end("Accepted")
              stream?.write(`event: message\ndata: {"result":${JSON.stringify({ content: [{ type: "text", text: "x".repeat(64 * 1024) }] })},"jsonrpc":"2.0","id":${JSON.stringify(rpc.id)}}\n\n`)
              return
            case "large-request": {
              // a request of the server's too large for the client; the call's answer is the client's answer to
              // it, as JSON text
              res.writeHead(202).end("Accepted")
              const callId = rpc.id
              onClientAnswer = (message) => {
                onClientAnswer = undefined
                send({ jsonrpc: "2.0", id: callId, result: { content: [{ type: "text", text: JSON.stringify(message) }] } })
              }
              send({ jsonrpc: "2.0", id: "srv-1", method: "ping", params: { pad: "x".repeat(64 * 1024) } })
              return
            }
            case "large-id-middle":
              // the same, with the id between two members
              res.writeHead(202).end("Accepted")
              stream?.write(`event: message\ndata: {"jsonrpc":"2.0","result":${JSON.stringify({ content: [{ type: "text", text: "x".repeat(64 * 1024) }] })},"id":${JSON.stringify(rpc.id)},"_meta":{"id":0}}\n\n`)
              return
            case "hang":
              return
            case "answer-hang":
              send({ jsonrpc: "2.0", id: rpc.id, result: { content: [{ type: "text", text: "ok" }] } })
              return
            case "cut":
              res.writeHead(202).end("Accepted")
              setTimeout(() => stream?.socket?.destroy(), 20)
              return
            default:
              res.writeHead(202).end("Accepted")
              if (rpc.id !== undefined) send({ jsonrpc: "2.0", id: rpc.id, result: { content: [{ type: "text", text: "ok" }] } })
          }
        })
      })
      server.on("connection", (socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as net.AddressInfo
        resume(Effect.succeed({ server, sockets, responses, probes: () => probes, posts, url: `http://127.0.0.1:${port}/sse` }))
      })
    }),
    ({ server, sockets }) =>
      Effect.sync(() => {
        server.close()
        for (const socket of sockets) socket.destroy()
      })
  ).pipe(Effect.map(({ posts, probes, responses, sockets, url }): LegacyServer => ({
    url,
    openSockets: () => sockets.size,
    openResponses: () => responses.size,
    probes,
    posts: () => [...posts]
  })))

/** A GET that opens the event stream and writes `text` on it at once, in one chunk. */
const streamWith = (text: string) => (_req: http.IncomingMessage, res: http.ServerResponse) => {
  res.writeHead(200, { "content-type": "text/event-stream" })
  res.write(text)
  return "stream" as const
}


const open = (url: string, options?: Partial<NodeMcpTransport.SseOptions>) =>
  McpSession.make({ transport: NodeMcpTransport.sse({ url, ...options }), clientInfo, requestTimeout: "10 seconds" })

describe.each(httpClients)("NodeMcpTransport.sse over $name", (client) => {
  it.scopedLive("the happy path", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer()
      const session = yield* open(server.url)
      const result = yield* session.callTool({ name: "ok", arguments: {} })
      assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("the event stream's URL redirected within the origin (301): followed", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer()
      const session = yield* open(server.url.replace("/sse", "/moved"))
      const result = yield* session.callTool({ name: "ok", arguments: {} })
      assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a header value with CR/LF fails the opening with InvalidConfiguration, not retryable", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer()
      const crash = crashOf(yield* Effect.exit(open(server.url, { headers: { "x-key": Redacted.make("SECRET-CRLF\r\nx: 1") } })))
      assert.strictEqual(crash.reason._tag, "InvalidConfiguration")
      assert.isFalse(crash.retryable)
      assert.notInclude(JSON.stringify(crash), "SECRET-CRLF")
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("POST answered 403: HttpStatus, not delivered", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer()
      const { crash, millis } = yield* crashing(yield* open(server.url), "forbidden")
      assert.deepStrictEqual(crash.reason, new McpError.HttpStatus({ status: 403, method: "POST", body: "no entry" }))
      assert.strictEqual(crash.delivery, "NotDelivered")
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("POST answered 503 with Retry-After: HttpStatus with the wait the server asked for", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer()
      const { crash } = yield* crashing(yield* open(server.url), "busy")
      assert.deepStrictEqual(
        crash.reason,
        new McpError.HttpStatus({ status: 503, method: "POST", body: "busy", retryAfter: Duration.seconds(12) })
      )
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("POST answered 404: SessionExpired", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer()
      const { crash } = yield* crashing(yield* open(server.url), "gone")
      assert.strictEqual(crash.reason._tag, "SessionExpired")
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a POST's connection reset, server still there: ConnectionFailed for that call alone", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer()
      const session = yield* open(server.url)
      const { crash, millis } = yield* crashing(session, "reset")
      assert.strictEqual(crash.reason._tag, "ConnectionFailed")
      if (crash.reason._tag === "ConnectionFailed") assert.isFalse(crash.reason.beforeSend)
      assert.strictEqual(crash.delivery, "MaybeDelivered")
      assert.isBelow(millis, 1000)
      assert.strictEqual(server.probes(), 1)
      const result = yield* session.callTool({ name: "ok", arguments: {} })
      assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a POST's connection closed, server gone: the transport is dead", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer()
      const session = yield* open(server.url)
      const { crash, millis } = yield* crashing(session, "reset-stop")
      // the event stream's cut and the POST's failure race: either tells of the death
      assert.include(["ConnectionFailed", "StreamClosed"], crash.reason._tag)
      assert.isBelow(millis, 1000)
      const death = crashOf(yield* Effect.exit(session.await))
      assert.include(["ConnectionFailed", "StreamClosed"], death.reason._tag)
    }).pipe(Effect.provide(client.layer)))

  // the id last (as the TypeScript SDK writes it), and between two members
  for (const tool of ["large", "large-id-middle"]) {
    it.scopedLive(`an answer larger than maxMessageBytes (${tool}) fails its call alone; the event stream goes on`, () =>
      Effect.gen(function*() {
        const server = yield* legacyServer()
        const session = yield* open(server.url, { maxMessageBytes: 16 * 1024 })
        const { crash, millis } = yield* crashing(session, tool)
        assert.strictEqual(crash.reason._tag, "StreamClosed")
        if (crash.reason._tag === "StreamClosed") {
          assert.match(crash.reason.detail, /^the answer to request \d+: an SSE event exceeded the limit of 16384 bytes \(6\d{4} bytes read\)$/)
        }
        assert.isBelow(millis, 1000)
        const result = yield* session.callTool({ name: "ok", arguments: {} })
        assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
      }).pipe(Effect.provide(client.layer)))
  }

  it.scopedLive("a server's request larger than maxMessageBytes is answered at once with an error", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer()
      const session = yield* open(server.url, { maxMessageBytes: 16 * 1024 }).pipe(Logger.withMinimumLogLevel(LogLevel.None))
      const result = yield* session.callTool({ name: "large-request", arguments: {} }).pipe(Logger.withMinimumLogLevel(LogLevel.None))
      assert.deepStrictEqual(JSON.parse((result.content[0] as { text: string }).text), {
        jsonrpc: "2.0",
        id: "srv-1",
        error: { code: -32600, message: "the request exceeded the client's limit of 16384 bytes, and was not read" }
      })
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("the event stream cut mid-call: StreamClosed at once", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer()
      const { crash, millis } = yield* crashing(yield* open(server.url), "cut")
      assert.strictEqual(crash.reason._tag, "StreamClosed")
      assert.strictEqual(crash.delivery, "MaybeDelivered")
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("connection refused: the session fails to open with ConnectionFailed before send", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const { exit, millis } = yield* timed(open(`http://127.0.0.1:${port}/sse`))
      const reason = crashOf(exit).reason
      assert.strictEqual(reason._tag, "ConnectionFailed")
      if (reason._tag === "ConnectionFailed") assert.isTrue(reason.beforeSend)
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("no header value in any error: the event stream refused, a POST reset (server there, or gone)", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      for (const { headers } of secretHeaders) {
        const options = headers !== undefined ? { headers } : {}
        // the event stream's GET is refused: the session fails to open; the network error is kept
        yield* assertRefusedWithoutSecret(open(`http://127.0.0.1:${port}/sse`, options))
        for (const tool of ["reset", "reset-stop"]) {
          const server = yield* legacyServer()
          const session = yield* open(server.url, options)
          const { crash } = yield* crashing(session, tool)
          // (a server that dies cuts the event stream too, which is told first, without a cause)
          if (tool === "reset") assert.isDefined(crash.cause, "the network error is kept")
          yield* assertNoSecret(crash, secrets, tool)
        }
      }
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("an endpoint on another origin is refused (it would receive our messages and headers)", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer("http://127.0.0.1:1/message")
      const reason = crashOf(yield* Effect.exit(open(server.url))).reason
      assert.strictEqual(reason._tag, "StreamClosed")
      if (reason._tag === "StreamClosed") assert.include(reason.detail, "another origin")
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("an invalid endpoint fails the opening at once, with what the server sent", () =>
    Effect.gen(function*() {
      for (const data of ["http://[::1", ""]) {
        const server = yield* legacyServer(undefined, { get: streamWith(`event: endpoint\ndata: ${data}\n\n`) })
        const { exit, millis } = yield* timed(open(server.url))
        const reason = crashOf(exit).reason
        assert.strictEqual(reason._tag, "StreamClosed")
        if (reason._tag === "StreamClosed") {
          assert.include(reason.detail, "invalid endpoint")
          assert.include(reason.detail, data === "" ? "(empty)" : data)
        }
        assert.isBelow(millis, 1000, "waited for the endpoint's bound (10 s)")
      }
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("an endpoint event without data is no event: the one that follows is the endpoint", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer(undefined, {
        get: (_req, res) => {
          res.writeHead(200, { "content-type": "text/event-stream" })
          res.write("event: endpoint\n\n")
          setTimeout(() => res.write("event: endpoint\ndata: /message?sessionId=1\n\n"), 50)
          return "stream"
        }
      })
      const session = yield* open(server.url)
      const result = yield* session.callTool({ name: "ok", arguments: {} })
      assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
      assert.isTrue(server.posts().every((path) => path === "/message?sessionId=1"), server.posts().join(", "))
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a relative endpoint is resolved against where the stream was found, after a redirect", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer("message?sessionId=1", {
        get: (req, res) => {
          if (req.url !== "/old/sse") return false
          res.writeHead(308, { location: "/new/sse" }).end()
          return true
        }
      })
      const session = yield* open(server.url.replace("/sse", "/old/sse"))
      yield* session.callTool({ name: "ok", arguments: {} })
      // `fetch` follows the redirect itself, out of the transport's sight: the configured URL is the base then
      const expected = client.followsRedirects ? "/old/message?sessionId=1" : "/new/message?sessionId=1"
      assert.isAbove(server.posts().length, 0)
      assert.isTrue(server.posts().every((path) => path === expected), server.posts().join(", "))
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a GET answered with something else than an event stream fails the opening at once, naming it", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer(undefined, {
        get: (_req, res) => {
          // a login page, held open
          res.writeHead(200, { "content-type": "text/html; charset=utf-8" })
          res.write("<html>sign in</html>")
          return true
        }
      })
      const { exit, millis } = yield* timed(open(server.url))
      const reason = crashOf(exit).reason
      assert.deepStrictEqual(reason, new McpError.StreamClosed({ detail: "GET answered text/html, not an event stream" }))
      assert.isBelow(millis, 1000, "waited for the endpoint's bound (10 s)")
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a server's request over the limit in the same chunk as the endpoint is refused once open", () =>
    Effect.gen(function*() {
      const request = { jsonrpc: "2.0", id: "srv-early", method: "ping", params: { pad: "x".repeat(2048) } }
      const server = yield* legacyServer(undefined, {
        get: streamWith(`event: endpoint\ndata: /message?sessionId=1\n\nevent: message\ndata: ${JSON.stringify(request)}\n\n`)
      })
      const session = yield* open(server.url, { maxMessageBytes: 1024 }).pipe(Logger.withMinimumLogLevel(LogLevel.None))
      const result = yield* session.callTool({ name: "ok", arguments: {} })
      assert.deepStrictEqual(result.content[0], { type: "text", text: "ok" })
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("an event's size is counted in bytes, over all its data lines", () =>
    Effect.gen(function*() {
      // three data lines of 600 bytes (300 two-byte characters each, 1,802 bytes with their joins): over 1 KiB
      const line = "é".repeat(300)
      const server = yield* legacyServer(undefined, {
        get: streamWith(`event: endpoint\ndata: /message?sessionId=1\n\nevent: message\ndata: ${line}\ndata: ${line}\ndata: ${line}\n\n`)
      })
      const warnings: Array<string> = []
      const logger = Logger.make(({ message }) => void warnings.push(String(message)))
      const session = yield* open(server.url, { maxMessageBytes: 1024 }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      yield* session.callTool({ name: "ok", arguments: {} })
      assert.isTrue(
        warnings.some((w) => w.includes("an SSE event of 1802 bytes exceeded the limit of 1024 bytes")),
        warnings.join(" | ")
      )
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a POST never answered is let go when its call times out, or is answered on the stream", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer()
      const session = yield* open(server.url)
      const streamOnly = server.openResponses()
      for (let i = 0; i < 3; i++) {
        const error = failureOf(yield* Effect.exit(session.callTool({ name: "hang", arguments: {} }, { timeout: "100 millis" })))
        assert.strictEqual(error._tag, "RequestTimeout")
      }
      const answered = yield* session.callTool({ name: "answer-hang", arguments: {} })
      assert.deepStrictEqual(answered.content[0], { type: "text", text: "ok" })
      yield* until("the POSTs were let go", Effect.sync(() => server.openResponses() === streamOnly))
      // the session goes on
      yield* session.callTool({ name: "ok", arguments: {} })
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("a POST of a notification never answered holds nothing, and is let go after connectTimeout", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer(undefined, { hangNotifications: true })
      // notifications/initialized is never answered: sending it does not wait for its POST
      const session = yield* open(server.url, { connectTimeout: "300 millis" }).pipe(Logger.withMinimumLogLevel(LogLevel.None))
      yield* session.callTool({ name: "ok", arguments: {} })
      yield* until("the POST was let go", Effect.sync(() => server.openResponses() === 1))
    }).pipe(Effect.provide(client.layer)))

  it.scopedLive("closing leaves no stream or socket open", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer()
      const scope = yield* Scope.make()
      const built = yield* Layer.buildWithScope(client.layer, scope)
      const session = yield* open(server.url).pipe(Effect.provide(built), Scope.extend(scope))
      yield* session.callTool({ name: "ok", arguments: {} })
      assert.isAbove(server.openResponses(), 0)
      yield* Scope.close(scope, Exit.void)
      // only a global pool's idle keep-alive sockets may stay
      yield* Effect.sleep("50 millis")
      assert.strictEqual(server.openResponses(), 0)
      if (client.ownsPool) assert.strictEqual(server.openSockets(), 0)
    }))
})

describe("NodeMcpTransport.sse with an undici layer provided to McpSession.make alone (Effect.provide)", () => {
  it.scopedLive("the event stream dies with the client, at once, with InvalidConfiguration that says what to do", () =>
    Effect.gen(function*() {
      const server = yield* legacyServer()
      const session = yield* open(server.url).pipe(Effect.provide(NodeHttpClient.layerUndici))
      const death = crashOf(yield* Effect.exit(session.await.pipe(Effect.timeoutFail({ duration: "1 second", onTimeout: () => new Error("still alive") }))))
      assert.strictEqual(death.reason._tag, "InvalidConfiguration")
      assert.match(death.message, /Provide the HttpClient layer around the scope that uses the session/)
      const call = crashOf(yield* Effect.exit(session.callTool({ name: "ok", arguments: {} })))
      assert.strictEqual(call.reason._tag, "InvalidConfiguration")
      assert.strictEqual(call.delivery, "NotDelivered")
    }))
})
