/**
 * End to end against the official 2.x server (`@modelcontextprotocol/server`), which speaks MCP 2026-07-28,
 * over stdio and Streamable HTTP: version negotiation in auto and pinned modes, and what goes on the wire.
 */
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import type { McpError} from "@effect-mcp/session";
import { McpSession, McpSessionPolicy } from "@effect-mcp/session"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { clientInfo, failureOf, modernFixture, startModern, stdioFixture, until } from "./utils.js"

const Env = Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)

interface Wire {
  readonly wire: ReadonlyArray<{
    readonly http?: string
    readonly method: string | null
    readonly id?: string | number | null
    readonly meta?: Record<string, unknown> | null
    readonly headers?: Record<string, string | null>
  }>
  readonly slowAborted: number
}

const wireOf = (session: McpSession.McpSession.Service) =>
  Effect.map(
    session.callTool({ name: "wire", arguments: {} }),
    (result) => JSON.parse((result.content[0] as { text: string }).text) as Wire
  )

const stdio = (legacy?: "reject") =>
  NodeMcpTransport.stdio({
    command: process.execPath,
    args: [modernFixture, "stdio"],
    env: legacy === "reject" ? { LEGACY: "reject" } : {}
  })

describe("MCP 2026-07-28 (the official 2.x server)", () => {
  describe("stdio", () => {
    it.scoped("auto speaks 2026-07-28: server/discover, no initialize, the _meta envelope on every request", () =>
      Effect.gen(function*() {
        const session = yield* McpSession.make({ transport: stdio("reject"), clientInfo })
        assert.strictEqual(session.protocolVersion, "2026-07-28")
        assert.strictEqual(session.serverInfo.name, "modern-fixture")
        assert.deepStrictEqual((yield* session.listTools()).map((tool) => tool.name).sort(), ["cut-once", "echo", "hdr", "slow", "touch-tools", "wire"])
        const echo = yield* session.callTool({ name: "echo", arguments: { text: "hi" }, _meta: { mine: 1 } })
        assert.deepStrictEqual(echo.content, [{ type: "text", text: "hi" }])
        yield* session.ping()
        const { wire } = yield* wireOf(session)
        const methods = wire.map((entry) => entry.method)
        assert.strictEqual(methods[0], "server/discover")
        assert.notInclude(methods, "initialize")
        assert.notInclude(methods, "notifications/initialized")
        assert.notInclude(methods, "ping")
        for (const entry of wire) {
          assert.strictEqual(entry.meta?.["io.modelcontextprotocol/protocolVersion"], "2026-07-28", String(entry.method))
          assert.deepStrictEqual(entry.meta?.["io.modelcontextprotocol/clientInfo"], clientInfo)
          assert.deepStrictEqual(entry.meta?.["io.modelcontextprotocol/clientCapabilities"], {})
        }
        // the caller's own _meta keys go along
        assert.strictEqual(wire.find((entry) => entry.method === "tools/call")?.meta?.mine, 1)
      }).pipe(Effect.provide(Env)))

    it.scoped("a legacy server (the SDK 1.x fixture) gets initialize in auto mode, after the probe", () =>
      Effect.gen(function*() {
        const session = yield* McpSession.make({
          transport: NodeMcpTransport.stdio({ command: process.execPath, args: [stdioFixture] }),
          clientInfo
        })
        assert.strictEqual(session.protocolVersion, "2025-11-25")
        yield* session.ping()
      }).pipe(Effect.provide(Env)))

    it.scoped("pinned: 2026-07-28 works, and a legacy version against a 2026-only server fails typed, not retryable", () =>
      Effect.gen(function*() {
        const pinned = yield* McpSession.make({ transport: stdio("reject"), clientInfo, protocolVersion: "2026-07-28" })
        assert.strictEqual(pinned.protocolVersion, "2026-07-28")
        const error = failureOf(
          yield* Effect.exit(Effect.scoped(McpSession.make({ transport: stdio("reject"), clientInfo, protocolVersion: "2025-11-25" })))
        )
        assert.strictEqual(error._tag, "InitializeFailed")
        assert.strictEqual((error as McpError.InitializeFailed).reason, "Invalid")
        assert.isFalse((error as McpError.InitializeFailed).retryable)
        // and a resilient session gives up at once rather than retrying it
        const gaveUp = failureOf(
          yield* Effect.exit(Effect.scoped(McpSession.makeResilient(
            { transport: stdio("reject"), clientInfo, protocolVersion: "2025-11-25" },
            McpSessionPolicy.make({ reconnect: Schedule.spaced("1 minute") })
          )))
        )
        assert.strictEqual(gaveUp._tag, "GaveUp")
        assert.strictEqual((gaveUp as McpError.GaveUp).attempts, 1)
      }).pipe(Effect.provide(Env)))

    it.scoped("a dual-era server pinned to 2025-11-25 speaks it", () =>
      Effect.gen(function*() {
        const session = yield* McpSession.make({ transport: stdio(), clientInfo, protocolVersion: "2025-11-25" })
        assert.strictEqual(session.protocolVersion, "2025-11-25")
        const echo = yield* session.callTool({ name: "echo", arguments: { text: "old" } })
        assert.deepStrictEqual(echo.content, [{ type: "text", text: "old" }])
      }).pipe(Effect.provide(Env)))
  })

  describe("Streamable HTTP", () => {
    const http = (url: string) => NodeMcpTransport.streamableHttp({ url })

    it.scoped("auto speaks 2026-07-28: MCP headers on every POST, no session id, no GET stream", () =>
      Effect.gen(function*() {
        const server = yield* startModern({ legacy: "reject" })
        const session = yield* McpSession.make({ transport: http(server.url), clientInfo })
        assert.strictEqual(session.protocolVersion, "2026-07-28")
        yield* session.listTools()
        yield* session.callTool({ name: "echo", arguments: { text: "hi" } })
        const region = yield* session.callTool({ name: "hdr", arguments: { region: "us-west1" } })
        assert.deepStrictEqual(region.content, [{ type: "text", text: "us-west1" }])
        const { wire } = yield* wireOf(session)
        assert.deepStrictEqual([...new Set(wire.map((entry) => entry.http))], ["POST"])
        assert.notInclude(wire.map((entry) => entry.method), "initialize")
        for (const entry of wire) {
          assert.strictEqual(entry.headers?.["mcp-protocol-version"], "2026-07-28")
          assert.strictEqual(entry.headers?.["mcp-method"], entry.method)
          assert.isNull(entry.headers?.["mcp-session-id"] ?? null)
        }
        const calls = wire.filter((entry) => entry.method === "tools/call")
        assert.deepStrictEqual(calls.map((entry) => entry.headers?.["mcp-name"]), ["echo", "hdr", "wire"])
        assert.strictEqual(calls[1]?.headers?.["mcp-param-region"], "us-west1")
      }).pipe(Effect.provide(Env)))

    it.scoped("a call interrupted under 2026-07-28 closes its POST: the server's handler is cancelled", () =>
      Effect.gen(function*() {
        const server = yield* startModern({ legacy: "reject" })
        const session = yield* McpSession.make({ transport: http(server.url), clientInfo })
        const slow = yield* Effect.fork(session.callTool({ name: "slow", arguments: { ms: 30_000 } }))
        yield* until("the call reached the server", Effect.map(Effect.orDie(wireOf(session)), ({ wire }) => wire.some((e) => e.method === "tools/call" && e.headers?.["mcp-name"] === "slow")))
        yield* Fiber.interrupt(slow)
        yield* until("the server's handler was cancelled", Effect.map(Effect.orDie(wireOf(session)), ({ slowAborted }) => slowAborted === 1))
        const { wire } = yield* wireOf(session)
        assert.notInclude(wire.map((entry) => entry.method), "notifications/cancelled")
      }).pipe(Effect.provide(Env)))

    it.scoped("a response stream cut under 2026-07-28 fails its call alone (StreamClosed), and a read-only tool is re-issued with a new id", () =>
      Effect.gen(function*() {
        const server = yield* startModern({ legacy: "reject" })
        const plain = yield* McpSession.make({ transport: http(server.url), clientInfo })
        const error = failureOf(yield* Effect.exit(plain.callTool({ name: "cut-once", arguments: {} })))
        assert.strictEqual(error._tag, "TransportCrashed")
        assert.strictEqual((error as McpError.TransportCrashed).reason._tag, "StreamClosed")
        assert.strictEqual((error as McpError.TransportCrashed).delivery, "MaybeDelivered")
        // the session goes on
        yield* plain.callTool({ name: "echo", arguments: { text: "after" } })

        const other = yield* startModern({ legacy: "reject" })
        const { session } = yield* McpSession.makeResilient(
          { transport: http(other.url), clientInfo },
          McpSessionPolicy.make({ keepAlive: false, replay: "Idempotent" })
        )
        yield* session.listTools()
        const result = yield* session.callTool({ name: "cut-once", arguments: {} })
        assert.deepStrictEqual(result.content, [{ type: "text", text: "survived" }])
        const { wire } = yield* wireOf(session)
        const cuts = wire.filter((entry) => entry.method === "tools/call" && entry.headers?.["mcp-name"] === "cut-once")
        assert.strictEqual(cuts.length, 2)
        assert.notStrictEqual(cuts[0]!.id, cuts[1]!.id)
      }).pipe(Effect.provide(Env)))

    it.scoped("listChanged holds a subscriptions/listen POST open and hears the server's tool changes on it", () =>
      Effect.gen(function*() {
        const server = yield* startModern({ legacy: "reject" })
        const session = yield* McpSession.make({ transport: http(server.url), clientInfo })
        const events: Array<McpSession.ListChangedEvent> = []
        yield* session.listChanged("tools").pipe(Stream.runForEach((e) => Effect.sync(() => void events.push(e))), Effect.forkScoped)
        yield* until("the listen request reached the server", Effect.map(Effect.orDie(wireOf(session)), ({ wire }) =>
          wire.some((e) => e.method === "subscriptions/listen" && e.headers?.["mcp-method"] === "subscriptions/listen")))
        yield* until("a change heard", Effect.zipRight(
          Effect.orDie(session.callTool({ name: "touch-tools", arguments: {} })),
          Effect.sync(() => events.length > 0)
        ))
        assert.deepStrictEqual(events[0], { _tag: "Changed", kind: "tools" })
      }).pipe(Effect.provide(Env)))

    it.scoped("pinned 2025-11-25 against a 2026-only server: the 400's -32022 body is the answer, typed and not retryable", () =>
      Effect.gen(function*() {
        const server = yield* startModern({ legacy: "reject" })
        const error = failureOf(
          yield* Effect.exit(Effect.scoped(McpSession.make({ transport: http(server.url), clientInfo, protocolVersion: "2025-11-25" })))
        )
        assert.strictEqual(error._tag, "InitializeFailed")
        assert.strictEqual((error as McpError.InitializeFailed).reason, "Invalid")
        assert.match(error.message, /Unsupported protocol version/)
      }).pipe(Effect.provide(Env)))

    it.scoped("a dual-era server: auto speaks 2026-07-28, a pin to 2025-11-25 speaks that", () =>
      Effect.gen(function*() {
        const server = yield* startModern()
        const auto = yield* McpSession.make({ transport: http(server.url), clientInfo })
        assert.strictEqual(auto.protocolVersion, "2026-07-28")
        const legacy = yield* McpSession.make({ transport: http(server.url), clientInfo, protocolVersion: "2025-11-25" })
        assert.strictEqual(legacy.protocolVersion, "2025-11-25")
        const echo = yield* legacy.callTool({ name: "echo", arguments: { text: "old" } })
        assert.deepStrictEqual(echo.content, [{ type: "text", text: "old" }])
      }).pipe(Effect.provide(Env)))

    it.scoped("an unknown method is the server's answer (404 with -32601), not a dead transport", () =>
      Effect.gen(function*() {
        const server = yield* startModern({ legacy: "reject" })
        const session = yield* McpSession.make({ transport: http(server.url), clientInfo })
        const error = failureOf(yield* Effect.exit(session.complete({ ref: { type: "ref/prompt", name: "x" }, argument: { name: "a", value: "b" } })))
        assert.strictEqual(error._tag, "ProtocolError")
        assert.strictEqual((error as McpError.ProtocolError).code, -32601)
        yield* session.callTool({ name: "echo", arguments: { text: "still here" } })
      }).pipe(Effect.provide(Env)))
  })
})
