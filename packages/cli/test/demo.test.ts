/**
 * `mcp-session demo` end to end, as `pnpm demo` runs it: the timeline tells the crash with its reason and
 * latency and the recovery, the run exits 0, and no server process is left behind.
 */
import { ExitCode } from "@effect-mcp/cli"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as net from "node:net"
import { isAlive } from "../src/internal/everything.js"
import { childPidsOf, killPid, pidsOf, runBin, runCli, tempDir } from "./utils.js"

const { ExitCode: Code } = ExitCode

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

  it.scopedLive("--port: out of range is a usage error (nothing started), in use is exit 3", () =>
    Effect.gen(function*() {
      yield* Effect.addFinalizer(() => Effect.sync(() => childPidsOf("server-everything").forEach(killPid)))
      // in a directory of its own: a negative "port" once became a Unix socket file in the working directory
      const dir = yield* tempDir
      for (const port of ["70000", "-5", "0"]) {
        const ran = yield* runBin(["demo", "--port", port], { cwd: dir, timeout: 30_000 })
        assert.strictEqual(ran.code, Code.UsageError, `--port ${port}: ${ran.stderr}`)
        assert.include(ran.stderr, `--port expects a port from 1 to 65535, got ${port}`)
      }
      assert.deepStrictEqual(fs.readdirSync(dir), [])

      const taken = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const server = net.createServer((socket) => socket.destroy())
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const ran = yield* runCli("demo", "--port", String((taken.address() as net.AddressInfo).port))
      assert.strictEqual(ran.code, Code.TransportCrashed, ran.stderr)
      assert.include(ran.stderr, "the demo failed: server-everything: exited before listening")
      assert.include(ran.stderr, "already in use")
      assert.deepStrictEqual(childPidsOf("server-everything"), [])
    }), 120_000)
})
