/**
 * Not timed: 1,000 concurrent calls over 50 pooled sessions (5 in-memory servers × 10 identities) finish,
 * and after the idle time to live every session is released: no transport open, none left reachable, no
 * fiber of the pool left running.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Supervisor from "effect/Supervisor"
import * as TestClock from "effect/TestClock"
import { McpServers, McpSessionPolicy, McpSessionPool, McpTest } from "../src/index.js"
import { eventually, tracking } from "./utils.js"

const serverCount = 5
const identityCount = 10
const calls = 1000

describe("McpSessionPool under load", () => {
  it.scoped("1,000 concurrent calls over 50 sessions finish; after the time to live nothing is left", () =>
    Effect.gen(function*() {
      const names = Array.from({ length: serverCount }, (_, i) => `s${i}`)
      const servers = yield* McpServers.fromJson({
        mcpServers: Object.fromEntries(names.map((name) => [name, { url: `http://127.0.0.1:9/${name}` }]))
      })
      const testServers = yield* Effect.forEach(names, (name) => McpTest.server({ name }))
      const tracked = testServers.map((server) => tracking(server.transport))
      const supervisor = yield* Supervisor.track
      const pool = yield* McpSessionPool.make({
        servers,
        clientInfo: { name: "load", version: "1.0.0" },
        policy: McpSessionPolicy.make({ keepAlive: false }),
        transport: (server) => tracked[names.indexOf(server.name)]!.transport,
        idleTimeToLive: "1 minute",
        maxSessions: serverCount * identityCount
      }).pipe(Effect.supervised(supervisor))
      const identities = yield* Effect.forEach(
        Array.from({ length: identityCount }, (_, i) => i),
        (i) => pool.identity({ headers: { Authorization: `Bearer user-${i}` } })
      )

      const results = yield* Effect.forEach(
        Array.from({ length: calls }, (_, i) => i),
        (i) =>
          pool.use(names[i % serverCount]!, identities[Math.floor(i / serverCount) % identityCount], (session) =>
            session.callTool({ name: "echo", arguments: { message: `m${i}` } })),
        { concurrency: "unbounded" }
      ).pipe(Effect.supervised(supervisor))
      assert.strictEqual(results.length, calls)
      results.forEach((result, i) => assert.deepStrictEqual(result.content[0], { type: "text", text: `Echo: m${i}` }))

      const opened = yield* Effect.forEach(testServers, (server) => server.opened)
      assert.deepStrictEqual(opened, names.map(() => identityCount), "one session per server and identity")
      assert.deepStrictEqual(yield* pool.stats, { sessions: 50, inUse: 0, idle: 50 })
      assert.strictEqual(yield* Effect.reduce(testServers, 0, (n, server) => Effect.map(server.live, (live) => n + live)), 50)

      // the sessions' fibers are seen by the supervisor while they live
      assert.isAtLeast((yield* supervisor.value).length, 50)

      yield* TestClock.adjust("1 minute")
      yield* eventually(
        Effect.reduce(testServers, 0, (n, server) => Effect.map(server.live, (live) => n + live)),
        (live) => live === 0
      )
      assert.deepStrictEqual(yield* pool.stats, { sessions: 0, inUse: 0, idle: 0 })
      for (const t of tracked) assert.strictEqual(yield* t.reachable(0), 0, "an SDK transport is still reachable")
      const running = yield* eventually(supervisor.value, (fibers) => fibers.length === 0).pipe(
        Effect.catchAll(() => supervisor.value)
      )
      assert.deepStrictEqual(running.map((f) => Fiber.isRuntimeFiber(f) ? f.id().id : -1), [], "fibers of the pool still running")
    }), { timeout: 60_000 })
})
