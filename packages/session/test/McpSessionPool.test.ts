/**
 * The pool: sessions keyed by server and identity digest, shared by reference count, closed after the idle
 * time to live (on TestClock), never while held, bounded, dropped when they give up.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { McpError, McpServers, McpSessionPolicy, McpSessionPool, McpTest } from "../src/index.js"
import type { McpTransport } from "../src/index.js"
import { inspect } from "node:util"
import { eventually, failureOf, tick } from "./utils.js"

const clientInfo = { name: "pool-test", version: "1.0.0" }
const processExited = new McpError.ProcessExited({ code: 1, signal: null, stderrTail: "" })
const refused = new McpError.ConnectionFailed({ detail: "ECONNREFUSED", beforeSend: true })

const policy = McpSessionPolicy.make({
  keepAlive: false,
  reconnect: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(1)))
})

/** Servers `a` and `b` (in memory), with what the transport factory was asked for. */
const setup = (options: Partial<McpSessionPool.McpSessionPool.Options> = {}) =>
  Effect.gen(function*() {
    const servers = yield* McpServers.fromJson({
      mcpServers: {
        a: { url: "http://127.0.0.1:9/a", headers: { "X-Server": "a" } },
        b: { command: "server-b", env: { MODE: "test" } }
      }
    })
    const a = yield* McpTest.server({ name: "a" })
    const b = yield* McpTest.server({ name: "b" })
    const faultyA = yield* McpTest.faulty(a.transport)
    const asked: Array<{ readonly server: string; readonly headers: Record<string, string> }> = []
    const transport = (server: McpServers.Server, identity: McpSessionPool.Identity): McpTransport.McpTransport => {
      const headers = server._tag === "Stdio" ? {} : { ...server.headers, ...identity.headers }
      asked.push({
        server: server.name,
        headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Redacted.value(v)]))
      })
      return server.name === "a" ? faultyA.transport : b.transport
    }
    const pool = yield* McpSessionPool.make({ servers, transport, clientInfo, policy, idleTimeToLive: "1 minute", ...options })
    return { pool, a, b, faults: faultyA.faults, asked }
  })

/** Takes a lease in a scope of its own, to let go of it at will. */
const hold = (pool: McpSessionPool.McpSessionPool.Service, server: string, identity?: McpSessionPool.Identity) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const lease = yield* Scope.extend(pool.get(server, identity), scope)
    return { lease, release: Scope.close(scope, Exit.void) }
  })

describe("McpSessionPool", () => {
  it.scoped("two header sets are two sessions; the same headers, in any order or case, are one", () =>
    Effect.gen(function*() {
      const { a, asked, pool } = yield* setup()
      const ada = yield* pool.identity({ headers: { Authorization: "Bearer ada", "X-Trace": "1" } })
      const adaAgain = yield* pool.identity({ headers: { "x-trace": "1", authorization: Redacted.make("Bearer ada") } })
      const bob = yield* pool.identity({ headers: { Authorization: "Bearer bob", "X-Trace": "1" } })
      const one = yield* hold(pool, "a", ada)
      const two = yield* hold(pool, "a", adaAgain)
      assert.strictEqual(one.lease.session, two.lease.session, "same credentials, same session")
      const three = yield* hold(pool, "a", bob)
      assert.notStrictEqual(three.lease.session, one.lease.session)
      assert.strictEqual(yield* a.opened, 2)
      assert.deepStrictEqual(yield* pool.stats, { sessions: 2, inUse: 2, idle: 0 })
      // each session was opened with its own credentials on top of the server's
      assert.deepStrictEqual(asked.map((x) => x.headers.Authorization), ["Bearer ada", "Bearer bob"])
      assert.deepStrictEqual(asked.map((x) => x.headers["X-Server"]), ["a", "a"])
      yield* Effect.all([one.release, two.release, three.release])
      assert.deepStrictEqual(yield* pool.stats, { sessions: 2, inUse: 0, idle: 2 })
    }))

  it.scoped("an identity shows neither its credentials nor its digest", () =>
    Effect.gen(function*() {
      const { pool } = yield* setup()
      const ada = yield* pool.identity({ headers: { Authorization: "Bearer s3cr3t" }, subject: "https://idp|ada" })
      const digest = (ada as unknown as { digest: string }).digest
      assert.isString(digest)
      assert.isAtLeast(digest.length, 32)
      for (const shown of [String(ada), JSON.stringify(ada), JSON.stringify({ ada }), inspect(ada), JSON.stringify({ ...ada }), inspect({ ...ada })]) {
        assert.notInclude(shown, "s3cr3t")
        assert.notInclude(shown, digest)
      }
      // another pool digests the same credentials differently: a digest is not a stable fingerprint
      const other = yield* setup()
      const again = yield* other.pool.identity({ headers: { Authorization: "Bearer s3cr3t" }, subject: "https://idp|ada" })
      assert.notStrictEqual((again as unknown as { digest: string }).digest, (ada as unknown as { digest: string }).digest)
    }))

  it.scoped("an idle session closes after the time to live, on the Clock; a use in between keeps it", () =>
    Effect.gen(function*() {
      const { a, pool } = yield* setup()
      yield* pool.use("a", undefined, (s) => s.ping())
      assert.strictEqual(yield* a.live, 1)
      yield* TestClock.adjust("59 seconds")
      yield* pool.use("a", undefined, (s) => s.ping())
      yield* TestClock.adjust("59 seconds")
      assert.strictEqual(yield* a.live, 1, "used 59 s ago")
      yield* TestClock.adjust("1 second")
      yield* eventually(a.live, (n) => n === 0)
      assert.deepStrictEqual(yield* pool.stats, { sessions: 0, inUse: 0, idle: 0 })
      // and the next use builds anew
      yield* pool.use("a", undefined, (s) => s.ping())
      assert.strictEqual(yield* a.opened, 2)
    }))

  it.scoped("a session with a call in flight outlives its time to live and an invalidation", () =>
    Effect.gen(function*() {
      const { a, pool } = yield* setup()
      const call = yield* Effect.fork(pool.use("a", undefined, (s) => s.callTool({ name: "block" }, { timeout: "1 hour" })))
      yield* eventually(a.executions("block"), (n) => n === 1)
      yield* TestClock.adjust("10 minutes")
      yield* pool.invalidate("a")
      for (let i = 0; i < 20; i++) yield* tick
      assert.strictEqual(yield* a.live, 1, "kept while the call runs")
      yield* a.release
      const result = yield* Fiber.join(call)
      assert.deepStrictEqual(result.content[0], { type: "text", text: "released" })
      // invalidated: closed as soon as its last holder let go, without waiting for the time to live
      yield* eventually(a.live, (n) => n === 0)
      assert.strictEqual((yield* a.cancellations).length, 0)
    }))

  it.scoped("at the bound, the session idle the longest makes room; when all are held, fail at once", () =>
    Effect.gen(function*() {
      const { a, b, pool } = yield* setup({ maxSessions: 2, whenFull: "fail" })
      const ada = yield* pool.identity({ headers: { Authorization: "ada" } })
      yield* pool.use("a", undefined, (s) => s.ping())
      yield* TestClock.adjust("1 second")
      yield* pool.use("b", undefined, (s) => s.ping())
      // full, both idle: the older one (a) is closed for the new one
      const held = yield* hold(pool, "a", ada)
      assert.strictEqual(yield* a.live, 1)
      assert.strictEqual(yield* a.opened, 2)
      assert.strictEqual(yield* b.live, 1)
      const alsoHeld = yield* hold(pool, "b")
      const full = yield* Effect.exit(pool.get("a").pipe(Effect.scoped))
      const error = failureOf(full)
      assert.isTrue(McpSessionPool.isPoolError(error) && error.reason === "Exhausted", String(error))
      assert.deepStrictEqual(yield* pool.stats, { sessions: 2, inUse: 2, idle: 0 })
      yield* held.release
      yield* alsoHeld.release
    }))

  it.scoped("at the bound with every session held, a get waits for one to be let go, up to maxWait", () =>
    Effect.gen(function*() {
      const { pool } = yield* setup({ maxSessions: 1, whenFull: "wait", maxWait: "10 seconds" })
      const held = yield* hold(pool, "a")
      const waiting = yield* Effect.fork(pool.use("b", undefined, (s) => s.ping()))
      for (let i = 0; i < 20; i++) yield* tick
      assert.isNull(waiting.unsafePoll(), "waits while a is held")
      yield* held.release
      yield* Fiber.join(waiting)
      // and a wait that nobody ends fails after maxWait, on the Clock
      const heldB = yield* hold(pool, "b")
      const timedOut = yield* Effect.fork(Effect.exit(pool.get("a").pipe(Effect.scoped)))
      for (let i = 0; i < 20; i++) yield* tick
      yield* TestClock.adjust("9 seconds")
      for (let i = 0; i < 20; i++) yield* tick
      assert.isNull(timedOut.unsafePoll())
      yield* TestClock.adjust("1 second")
      const error = failureOf(yield* Fiber.join(timedOut))
      assert.isTrue(McpSessionPool.isPoolError(error) && error.reason === "Exhausted")
      yield* heldB.release
    }))

  it.scoped("a session that gave up is dropped: its holders see GaveUp, the next use builds a new one", () =>
    Effect.gen(function*() {
      const { a, faults, pool } = yield* setup()
      const held = yield* hold(pool, "a")
      yield* faults.failNextOpens(refused, refused)
      yield* faults.crash(processExited)
      yield* eventually(faults.opens, (n) => n === 2)
      yield* TestClock.adjust("1 second")
      const gaveUp = failureOf(yield* Effect.exit(held.lease.session.ping()))
      assert.isTrue(McpError.isGaveUp(gaveUp), String(gaveUp))
      yield* eventually(pool.stats, (s) => s.sessions === 0)
      const result = yield* pool.use("a", undefined, (s) => s.callTool({ name: "echo", arguments: { message: "again" } }))
      assert.deepStrictEqual(result.content[0], { type: "text", text: "Echo: again" })
      assert.strictEqual(yield* a.opened, 2)
      yield* held.release
      yield* eventually(a.live, (n) => n === 1)
    }))

  it.scoped("a session that cannot be built fails with GaveUp, and the next get tries again", () =>
    Effect.gen(function*() {
      const { a, faults, pool } = yield* setup()
      yield* faults.failNextOpens(refused, refused)
      const first = yield* Effect.fork(Effect.exit(pool.use("a", undefined, (s) => s.ping())))
      yield* eventually(faults.opens, (n) => n === 1)
      yield* TestClock.adjust("1 second")
      assert.isTrue(McpError.isGaveUp(failureOf(yield* Fiber.join(first))))
      yield* pool.use("a", undefined, (s) => s.ping())
      assert.strictEqual(yield* a.opened, 1)
      assert.strictEqual(yield* faults.opens, 3)
    }))

  it.scoped("an unknown server is a PoolError that names it", () =>
    Effect.gen(function*() {
      const { pool } = yield* setup()
      const error = failureOf(yield* Effect.exit(pool.use("nope", undefined, (s) => s.ping())))
      assert.isTrue(McpSessionPool.isPoolError(error) && error.reason === "UnknownServer" && error.server === "nope")
      assert.include(error.message, "a, b")
    }))

  it.effect("closing the pool closes every session", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const { a, b, pool } = yield* Scope.extend(setup(), scope)
      yield* Scope.extend(Effect.all([pool.use("a", undefined, (s) => s.ping()), pool.use("b", undefined, (s) => s.ping())]), scope)
      assert.strictEqual((yield* a.live) + (yield* b.live), 2)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual((yield* a.live) + (yield* b.live), 0)
    }))
})
