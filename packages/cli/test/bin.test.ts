/**
 * The real executable (`bin/mcp-session.mjs`, through tsx): its exit codes as a shell sees them. The
 * processes run side by side, to keep the start-up cost to one.
 */
import { ExitCode } from "@effect-mcp/cli"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { runBin, stdioFixture } from "./utils.js"

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
})
