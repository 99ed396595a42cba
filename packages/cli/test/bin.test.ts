/**
 * The real executable (`bin/mcp-session.mjs`, through tsx): its exit codes as a shell sees them. The
 * processes run side by side, to keep the start-up cost to one.
 */
import { ExitCode } from "@effect-mcp/cli"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { jsonOf, runBin, spawnBin, stdioFixture, until } from "./utils.js"

const { ExitCode: Code } = ExitCode

describe("mcp-session", () => {
  it.live("exit codes: 0 success, 1 tool error, 2 usage, 3 crash, 4 timeout", () =>
    Effect.gen(function*() {
      const [ok, tool, usage, crash, timeout] = yield* Effect.all([
        runBin(["call", "echo", `{"message":"from a shell"}`, ...stdioFixture]),
        runBin(["call", "fail", ...stdioFixture]),
        runBin(["call", "--timeout", "never", "echo", ...stdioFixture]),
        runBin(["call", "--json", "--retries", "0", "exit", ...stdioFixture]),
        runBin(["call", "--timeout", "200ms", "slow", `{"ms":10000}`, ...stdioFixture])
      ], { concurrency: "unbounded" })
      assert.strictEqual(ok.code, Code.Success, ok.stderr)
      assert.strictEqual(ok.stdout, "echo: from a shell\n")
      assert.strictEqual(tool.code, Code.ToolError, tool.stderr)
      assert.strictEqual(usage.code, Code.UsageError, usage.stderr)
      assert.include(usage.stderr, "--timeout expects a duration")
      assert.strictEqual(crash.code, Code.TransportCrashed, crash.stderr)
      assert.strictEqual(JSON.parse(crash.stdout).error.reason._tag, "ProcessExited")
      assert.strictEqual(timeout.code, Code.Timeout, timeout.stderr)
      assert.include(timeout.stderr, "RequestTimeout")
    }), 90_000)

  it.live("--log-level debug: the logs go to stderr, stdout keeps the one JSON line", () =>
    Effect.gen(function*() {
      const ran = yield* runBin(["ping", "--json", "--log-level", "debug", ...stdioFixture])
      assert.strictEqual(ran.code, Code.Success, ran.stderr)
      assert.strictEqual(jsonOf(ran).ok, true)
      assert.notInclude(ran.stdout, "DEBUG")
      assert.include(ran.stderr, "DEBUG")
    }), 60_000)

  it.scopedLive("a slow reader of a pipe gets all of stdout: the process exits once it is flushed", () =>
    Effect.gen(function*() {
      const bytes = 2_000_000
      const bin = yield* spawnBin(["call", "big", JSON.stringify({ bytes }), ...stdioFixture])
      let received = 0
      // nobody reads stdout until the command is done (its last line is on stderr), and a moment longer
      bin.child.stdout.on("data", (chunk: Buffer) => void (received += chunk.length)).pause()
      yield* until(() => bin.stderr().includes("✓ big"), "40 seconds", "the call's end")
      yield* Effect.sleep("500 millis")
      bin.child.stdout.resume()
      assert.strictEqual(yield* bin.exit("30 seconds"), Code.Success, bin.stderr())
      yield* until(() => bin.child.stdout.readableEnded, "5 seconds", "the end of stdout")
      assert.strictEqual(received, bytes + "\n".length)
    }), 60_000)

  it.scopedLive("when the reader of stdout goes away (`| head -1`), writing stops quietly", () =>
    Effect.gen(function*() {
      // a one-shot command keeps its own exit code
      const call = yield* spawnBin(["call", "big", JSON.stringify({ bytes: 2_000_000 }), ...stdioFixture])
      // watch, which would print until Ctrl-C, stops
      const watch = yield* spawnBin(["watch", "--interval", "50ms", ...stdioFixture])
      for (const bin of [call, watch]) {
        yield* Effect.async<void>((resume) => void bin.child.stdout.once("data", () => resume(Effect.void))).pipe(
          Effect.timeoutFail({ duration: "40 seconds", onTimeout: () => new Error(`no output: ${bin.stderr()}`) }),
          Effect.orDie
        )
        // closes the pipe's only read end, as `head` does once it has its line
        bin.child.stdout.destroy()
      }
      for (const bin of [call, watch]) {
        assert.strictEqual(yield* bin.exit("30 seconds"), Code.Success, bin.stderr())
        assert.notInclude(bin.stderr(), "EPIPE")
        assert.notInclude(bin.stderr(), "internal error")
      }
    }), 90_000)
})
