/**
 * examples/agent.ts against the real server-everything over stdio: the server is killed by PID between the
 * agent's two tool calls; the resilient session starts a new one, the second call waits for it and runs
 * there, once; the agent answers right, and nothing is sent twice.
 */
import { McpSession } from "@effect-mcp/session"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { agent, script, session } from "../examples/agent.js"
import * as ScriptedModel from "../examples/ScriptedModel.js"
import { childPids, serverEverything } from "./utils.js"

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The agent's run, the server killed between its two tool calls; returns once the checks are done. */
const run = Effect.gen(function*() {
  const lifecycle = yield* McpSession.Lifecycle
  const events: Array<McpSession.LifecycleEvent> = []
  yield* Effect.forkScoped(Stream.runForEach(lifecycle.events, (e) => Effect.sync(() => void events.push(e))))
  const killed = yield* Deferred.make<number>()
  const kill = Effect.gen(function*() {
    const [pid] = childPids(serverEverything)
    process.kill(pid!, "SIGKILL")
    yield* Deferred.succeed(killed, pid!)
    // the session has seen the crash before the model asks for the next call
    yield* lifecycle.events.pipe(Stream.filter((e) => e._tag === "Crashed"), Stream.take(1), Stream.runDrain)
  }).pipe(Effect.timeout("10 seconds"), Effect.orDie)
  const model = yield* ScriptedModel.make(script(kill))
  const answer = yield* agent("What is 2 + 3? Echo it.").pipe(
    Effect.provide(model.layer),
    Effect.timeout("20 seconds")
  )
  assert.strictEqual(answer, "2 + 3 = 5 (Echo: the sum is 5)")
  assert.strictEqual(model.turns(), 3)

  const pid = yield* Deferred.await(killed)
  assert.isFalse(isAlive(pid))
  const [respawned] = childPids(serverEverything)
  assert.isDefined(respawned)
  assert.notStrictEqual(respawned, pid)
  const tags = events.map((e) => e._tag)
  assert.strictEqual(tags.filter((t) => t === "Crashed").length, 1)
  assert.strictEqual(tags.filter((t) => t === "Rebuilt").length, 1)
  // no call was sent twice
  assert.deepStrictEqual(events.filter((e) => e._tag === "Replayed"), [])

  // every turn, the model was offered the server's tools with the schemas the server published
  const listed = yield* (yield* McpSession.McpSession).listTools()
  for (const offered of model.offered()) {
    assert.deepStrictEqual(offered.map((t) => t.name), listed.map((t) => t.name))
    const sum = offered.find((t) => t.name === "get-sum")!
    assert.deepStrictEqual(sum.parameters, listed.find((t) => t.name === "get-sum")!.inputSchema)
  }
})

describe("examples/agent.ts", () => {
  it.scopedLive("finishes with the right answer across a kill of its server mid-run", () =>
    Effect.gen(function*() {
      yield* run.pipe(Effect.scoped, Effect.provide(session(process.execPath, [serverEverything, "stdio"])))
      // the session's scope closed: no server is left running
      assert.deepStrictEqual(childPids(serverEverything), [])
    }).pipe(Effect.provide(NodeContext.layer)), 30_000)
})
