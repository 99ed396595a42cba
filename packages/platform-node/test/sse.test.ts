/**
 * Legacy HTTP+SSE faults, scripted by a server in this process.
 */
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import { McpError, McpSession } from "@effect-mcp/session"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Scope from "effect/Scope"
import * as http from "node:http"
import type * as net from "node:net"
import { assertNoSecret, assertRefusedWithoutSecret, secretHeaders, secrets } from "./secrets.js"
import { clientInfo, crashing, crashOf, freePort, httpClients, timed } from "./utils.js"

interface LegacyServer {
  readonly url: string
  readonly openSockets: () => number
  /** Responses begun and neither finished nor cut: streams a client still holds open. */
  readonly openResponses: () => number
  /** How many times the transport asked whether the server is there (`OPTIONS`). */
  readonly probes: () => number
}

/**
 * GET /sse names `/message?sessionId=1` (or `endpoint`), then answers every request on the stream; a
 * `tools/call` of `forbidden`, `gone` or `cut` fails as its name says.
 */
const legacyServer = (endpoint = "/message?sessionId=1") =>
  Effect.acquireRelease(
    Effect.async<{
      server: http.Server
      sockets: Set<net.Socket>
      responses: Set<http.ServerResponse>
      probes: () => number
      url: string
    }>((resume) => {
      const sockets = new Set<net.Socket>()
      const responses = new Set<http.ServerResponse>()
      let stream: http.ServerResponse | undefined
      let options = 0
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
          options++
          res.writeHead(204, { allow: "GET, POST" }).end()
          return
        }
        if (req.method === "GET") {
          res.writeHead(200, { "content-type": "text/event-stream" })
          res.write(`event: endpoint\ndata: ${endpoint}\n\n`)
          stream = res
          return
        }
        let body = ""
        req.on("data", (chunk: Buffer) => (body += chunk.toString()))
        req.on("end", () => {
          const rpc = JSON.parse(body)
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
        resume(Effect.succeed({ server, sockets, responses, probes: () => options, url: `http://127.0.0.1:${port}/sse` }))
      })
    }),
    ({ server, sockets }) =>
      Effect.sync(() => {
        server.close()
        for (const socket of sockets) socket.destroy()
      })
  ).pipe(Effect.map(({ probes, responses, sockets, url }): LegacyServer => ({
    url,
    openSockets: () => sockets.size,
    openResponses: () => responses.size,
    probes
  })))


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
