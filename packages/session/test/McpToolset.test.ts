/**
 * The toolset: many servers' tools as one set, named by a rule, filtered, refreshed on list_changed and
 * after a rebuild; calls routed to the right server; a server that is down leaves the others serving.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as TestClock from "effect/TestClock"
import type { McpTransport } from "../src/index.js";
import { McpError, McpServers, McpSessionPolicy, McpSessionPool, McpTest, McpToolset } from "../src/index.js"
import { dynamic, eventually, failureOf, scripted } from "./utils.js"

const clientInfo = { name: "toolset-test", version: "1.0.0" }
const refused = new McpError.ConnectionFailed({ detail: "ECONNREFUSED", beforeSend: true })
const processExited = new McpError.ProcessExited({ code: 1, signal: null, stderrTail: "" })

const policy = McpSessionPolicy.make({
  keepAlive: false,
  reconnect: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(1)))
})

const pool = (
  transports: Record<string, McpTransport.McpTransport>,
  config: Record<string, Record<string, unknown>> = {}
) =>
  Effect.gen(function*() {
    const entries: Record<string, unknown> = {}
    for (const name of Object.keys(transports)) entries[name] = { url: `http://127.0.0.1:9/${name}`, ...config[name] }
    const servers = yield* McpServers.fromJson({ mcpServers: entries })
    return yield* McpSessionPool.make({ servers, transport: (server) => transports[server.name]!, clientInfo, policy })
  })

const toolset = (poolService: McpSessionPool.McpSessionPool.Service, options?: McpToolset.McpToolset.Options) =>
  McpToolset.make(options).pipe(Effect.provideService(McpSessionPool.McpSessionPool, poolService))

const names = (state: McpToolset.State) => state.tools.map((t) => t.name)

describe("McpToolset", () => {
  it.scoped("prefixes every tool with its server's prefix, and routes a call to its server", () =>
    Effect.gen(function*() {
      const a = yield* McpTest.server({ name: "a" })
      const b = yield* McpTest.server({ name: "b" })
      const p = yield* pool({ a: a.transport, b: b.transport }, { b: { prefix: "bee" } })
      const set = yield* toolset(p, { filter: { allow: ["echo", "add"] } })
      const state = yield* set.ready
      assert.deepStrictEqual(names(state), ["a__echo", "a__add", "bee__echo", "bee__add"])
      assert.deepStrictEqual(state.servers, { a: { _tag: "Ready", tools: 2 }, b: { _tag: "Ready", tools: 2 } })
      const result = yield* set.call("bee__echo", { message: "hi" })
      assert.deepStrictEqual(result.content[0], { type: "text", text: "Echo: hi" })
      assert.strictEqual(yield* b.executions("echo"), 1)
      assert.strictEqual(yield* a.executions("echo"), 0)
      const unknown = failureOf(yield* Effect.exit(set.call("a__nope")))
      assert.isTrue(McpToolset.isToolsetError(unknown) && unknown.reason === "UnknownTool")
    }))

  it.scoped("collisions: error leaves the name out, firstWins keeps the first server's, prefixOnConflict prefixes both", () =>
    Effect.gen(function*() {
      const a = dynamic("a", ["search", "only-a"])
      const b = dynamic("b", ["search", "only-b"])
      const p = yield* pool({ a: a.transport, b: b.transport })

      const strict = yield* (yield* toolset(p, { naming: "error" })).ready
      assert.deepStrictEqual(names(strict), ["only-a", "only-b"])
      assert.deepStrictEqual(strict.collisions, [{ name: "search", servers: ["a", "b"] }])
      const set = yield* toolset(p, { naming: "error" })
      yield* set.ready
      const collision = failureOf(yield* Effect.exit(set.call("search")))
      assert.isTrue(McpToolset.isToolsetError(collision) && collision.reason === "Collision")
      assert.include(collision.message, "a, b")

      const first = yield* toolset(p, { naming: "firstWins", servers: ["b", "a"] })
      assert.deepStrictEqual(names(yield* first.ready), ["search", "only-b", "only-a"])
      const won = yield* first.call("search")
      assert.deepStrictEqual(won.content[0], { type: "text", text: "b:search" })

      const onConflict = yield* toolset(p, { naming: "prefixOnConflict" })
      assert.deepStrictEqual(names(yield* onConflict.ready), ["a__search", "only-a", "b__search", "only-b"])
      assert.deepStrictEqual((yield* onConflict.call("b__search")).content[0], { type: "text", text: "b:search" })
      assert.deepStrictEqual((yield* onConflict.call("only-a")).content[0], { type: "text", text: "a:only-a" })
    }))

  it.scoped("allow and deny lists, per server and for all, and filters by annotation", () =>
    Effect.gen(function*() {
      const a = yield* McpTest.server({ name: "a" })
      const b = yield* McpTest.server({ name: "b" })
      const p = yield* pool({ a: a.transport, b: b.transport })
      const set = yield* toolset(p, {
        filter: { deny: ["block-readonly"] },
        filters: { a: { where: McpToolset.readOnly }, b: { allow: ["increment", "set", "block-readonly"] } }
      })
      assert.deepStrictEqual(names(yield* set.ready), ["a__echo", "a__add", "b__increment", "b__set"])
    }))

  it.scoped("refreshed when a server says its tools changed", () =>
    Effect.gen(function*() {
      const a = dynamic("a", ["one"])
      const p = yield* pool({ a: a.transport })
      const set = yield* toolset(p)
      assert.deepStrictEqual(names(yield* set.ready), ["a__one"])
      const seen = yield* set.changes.pipe(
        Stream.filter((s) => s.tools.length === 2),
        Stream.runHead,
        Effect.fork
      )
      yield* a.add("two")
      const next = yield* eventually(set.tools, (tools) => tools.length === 2)
      assert.deepStrictEqual(next.map((t) => t.name), ["a__one", "a__two"])
      assert.isTrue((yield* seen.await)._tag === "Success")
      assert.deepStrictEqual((yield* set.call("a__two")).content[0], { type: "text", text: "a:two" })
    }))

  it.scoped("refreshed after the session was rebuilt", () =>
    Effect.gen(function*() {
      const a = dynamic("a", ["one"])
      const { faults, transport } = yield* McpTest.faulty(a.transport)
      const p = yield* pool({ a: transport })
      const set = yield* toolset(p)
      assert.deepStrictEqual(names(yield* set.ready), ["a__one"])
      yield* a.setNext(["one", "after-rebuild"])
      yield* faults.crash(processExited)
      const rebuilt = yield* eventually(set.tools, (tools) => tools.length === 2)
      assert.deepStrictEqual(rebuilt.map((t) => t.name), ["a__one", "a__after-rebuild"])
      assert.strictEqual(yield* faults.opens, 2)
    }))

  it.scoped("a server that is down makes its tools unavailable, with the reason; the others serve; it comes back", () =>
    Effect.gen(function*() {
      const a = yield* McpTest.server({ name: "a" })
      const b = yield* McpTest.server({ name: "b" })
      const { faults, transport } = yield* McpTest.faulty(b.transport)
      yield* faults.failNextOpens(refused, refused)
      const p = yield* pool({ a: a.transport, b: transport })
      const set = yield* toolset(p, { filter: { allow: ["echo"] }, retry: Schedule.spaced("1 minute") })
      yield* eventually(faults.opens, (n) => n === 1)
      yield* TestClock.adjust("1 second")
      const state = yield* set.ready
      assert.deepStrictEqual(names(state), ["a__echo"])
      const status = state.servers.b
      assert.isTrue(status?._tag === "Unavailable" && McpError.isGaveUp(status.error), JSON.stringify(status))
      // a's tools serve; b's fail typed, with b's reason
      assert.deepStrictEqual((yield* set.call("a__echo", { message: "up" })).content[0], { type: "text", text: "Echo: up" })
      const down = failureOf(yield* Effect.exit(set.call("b__echo", { message: "down" })))
      assert(McpToolset.isToolsetError(down) && down.reason === "Unavailable" && down.server === "b")
      assert.isTrue(McpError.isGaveUp(down.error))
      assert.include(down.message, "ECONNREFUSED")
      // tried again by the retry schedule: the pool builds a new session, and b's tools are back
      yield* TestClock.adjust("1 minute")
      const back = yield* eventually(set.tools, (tools) => tools.length === 2)
      assert.deepStrictEqual(back.map((t) => t.name), ["a__echo", "b__echo"])
      assert.deepStrictEqual((yield* set.call("b__echo", { message: "back" })).content[0], { type: "text", text: "Echo: back" })
    }))

  it.scoped("a server that gives up later loses its tools until it is back", () =>
    Effect.gen(function*() {
      const a = yield* McpTest.server({ name: "a" })
      const { faults, transport } = yield* McpTest.faulty(a.transport)
      const p = yield* pool({ a: transport })
      const set = yield* toolset(p, { filter: { allow: ["echo"] }, retry: Schedule.spaced("1 minute") })
      assert.deepStrictEqual(names(yield* set.ready), ["a__echo"])
      yield* faults.failNextOpens(refused, refused)
      yield* faults.crash(processExited)
      yield* eventually(faults.opens, (n) => n === 2)
      yield* TestClock.adjust("1 second")
      const state = yield* eventually(set.state.get, (s) => s.servers.a?._tag === "Unavailable")
      assert.deepStrictEqual(names(state), [])
      const down = failureOf(yield* Effect.exit(set.call("a__echo", { message: "x" })))
      assert.isTrue(McpToolset.isToolsetError(down) && down.reason === "Unavailable" && McpError.isGaveUp(down.error))
      yield* TestClock.adjust("1 minute")
      yield* eventually(set.tools, (tools) => tools.length === 1)
    }))

  it.scoped("two users, one server: each toolset has its own session, with its own credentials", () =>
    Effect.gen(function*() {
      const a = yield* McpTest.server({ name: "a" })
      const servers = yield* McpServers.fromJson({ mcpServers: { a: { url: "http://127.0.0.1:9/a" } } })
      const opened: Array<string> = []
      const p = yield* McpSessionPool.make({
        servers,
        clientInfo,
        policy,
        transport: (_, identity) => {
          opened.push(identity.subject ?? "anonymous")
          return a.transport
        }
      })
      const ada = yield* toolset(p, { identity: yield* p.identity({ subject: "ada" }) })
      const bob = yield* toolset(p, { identity: yield* p.identity({ subject: "bob" }) })
      yield* Effect.all([ada.ready, bob.ready])
      yield* ada.call("a__echo", { message: "ada" })
      yield* bob.call("a__echo", { message: "bob" })
      assert.deepStrictEqual(opened, ["ada", "bob"])
      assert.deepStrictEqual(yield* p.stats, { sessions: 2, inUse: 2, idle: 0 })
    }))

  it.scoped("as layers: McpToolset over McpSessionPool; an unconfigured server is unavailable, typed", () =>
    Effect.gen(function*() {
      const a = yield* McpTest.server({ name: "a" })
      const servers = yield* McpServers.fromJson({ mcpServers: { a: { command: "a" } } })
      const live = McpToolset.layer({ servers: ["a", "ghost"], filter: { allow: ["echo"] } }).pipe(
        Layer.provide(McpSessionPool.layer({ servers, clientInfo, policy, transport: () => a.transport }))
      )
      const state = yield* Effect.flatMap(McpToolset.McpToolset, (set) => set.ready).pipe(Effect.provide(live))
      assert.deepStrictEqual(names(state), ["a__echo"])
      const ghost = state.servers.ghost
      assert.isTrue(ghost?._tag === "Unavailable" && McpSessionPool.isPoolError(ghost.error) && ghost.error.reason === "UnknownServer")
      // the layer's scope closed: so did the session
      assert.strictEqual(yield* a.live, 0)
    }))

  it.scoped("a listing the server says is fresh for ttlMs is listed again once that has passed, on the Clock", () =>
    Effect.gen(function*() {
      let listings = 0
      const transport = scripted((message, reply) => {
        if (message.method !== "tools/list") return
        listings++
        reply({
          jsonrpc: "2.0",
          id: message.id!,
          result: { tools: [{ name: `tool-${listings}`, inputSchema: { type: "object" } }], ttlMs: 60_000, cacheScope: "private" }
        })
      })
      const set = yield* toolset(yield* pool({ a: transport }))
      assert.deepStrictEqual(names(yield* set.ready), ["a__tool-1"])
      yield* TestClock.adjust("59 seconds")
      assert.strictEqual(listings, 1, "not before its time")
      yield* TestClock.adjust("1 second")
      yield* eventually(Effect.map(SubscriptionRef.get(set.state), names), (n) => n[0] === "a__tool-2")
      assert.strictEqual(listings, 2)
    }))
})
