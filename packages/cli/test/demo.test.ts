/**
 * `mcp-session demo` end to end, as `pnpm demo` runs it: the timeline tells the crash with its reason and
 * latency and the recovery, the run exits 0, and no server process is left behind.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { isAlive } from "../src/internal/everything.js"
import { pidsOf, runBin } from "./utils.js"

describe("demo", () => {
  it.live("kills the server mid-call, shows the typed crash and the recovery, leaves nothing running", () =>
    Effect.gen(function*() {
      const before = new Set(pidsOf("server-everything"))
      const ran = yield* runBin(["demo"], { timeout: 90_000 })
      assert.strictEqual(ran.code, 0, `${ran.stdout}\n${ran.stderr}`)
      const out = ran.stdout

      const pids = [...out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))
      assert.strictEqual(pids.length, 2, out)
      assert.notStrictEqual(pids[0], pids[1])

      assert.match(out, /kill -9 \d+/)
      const crash = /call failed: TransportCrashed · reason (\w+)/.exec(out)
      assert.isNotNull(crash, out)
      assert.include(["ConnectionFailed", "StreamClosed", "ProcessExited"], crash![1])
      assert.match(out, /detected [\d.]+ m?s after the kill/)
      const rebuilt = /session rebuilt · generation 2 · ([\d.]+ m?s) after the crash/.exec(out)
      assert.isNotNull(rebuilt, out)
      assert.match(out, /echo \{"message":"I'm back"\} → "Echo: I'm back" · on generation 2/)
      assert.include(out, "nothing left running")
      assert.notMatch(out, /\x1b\[/, "no colors off a terminal")

      for (const pid of pids) assert.isFalse(isAlive(pid), `server pid ${pid} is still running`)
      const leftover = pidsOf("server-everything").filter((pid) => !before.has(pid))
      assert.deepStrictEqual(leftover, [])
    }), 120_000)
})
