/**
 * The MCP client scenarios of `@modelcontextprotocol/conformance` that apply to a session over Streamable
 * HTTP, run by the official runner against `fixtures/conformanceClient.ts`. The runner starts each
 * scenario's server on this machine and judges what the client did on the wire (initialization, tool
 * calls, and SEP-1699: waiting the server's SSE `retry` time before polling a stream it closed).
 *
 * The runner needs Node 22 (`fs.globSync`), fetched once by `npx -y -p node@22`; the client itself runs on
 * this Node. Each run is bounded, and its whole process group is killed if it overruns.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const require = createRequire(import.meta.url)
const runner = path.join(path.dirname(require.resolve("@modelcontextprotocol/conformance/package.json")), "dist/index.js")
const tsx = pathToFileURL(require.resolve("tsx/esm")).href
const client = fileURLToPath(new URL("./fixtures/conformanceClient.ts", import.meta.url))
const bound = 150_000

interface Run {
  readonly code: number | null
  readonly output: string
}

/** Runs one scenario in a scratch directory (the runner writes its results there), bounded. */
const runScenario = (scenario: string): Promise<Run> =>
  new Promise((resolve) => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-conformance-"))
    const child = spawn(
      "npx",
      ["-y", "-p", "node@22", "--", "node", runner, "client", "--scenario", scenario, "--command", `${process.execPath} --import ${tsx} ${client}`],
      { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" } }
    )
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    const timer = setTimeout(() => {
      output += `\n[test] no result after ${bound} ms: killed`
      try {
        process.kill(-child.pid!, "SIGKILL")
      } catch {
        // already gone
      }
    }, bound)
    child.on("close", (code) => {
      clearTimeout(timer)
      fs.rmSync(cwd, { recursive: true, force: true })
      resolve({ code, output: output.replace(/\x1b\[[0-9;]*m/g, "") })
    })
  })

/** The runner's verdict per check: `[check-id] SUCCESS|FAILURE|WARNING|INFO description`. */
const verdicts = (output: string): Map<string, Array<string>> => {
  const found = new Map<string, Array<string>>()
  for (const match of output.matchAll(/\[([a-z0-9-]+)\s*\]\s+(SUCCESS|FAILURE|WARNING)\b/g)) {
    found.set(match[1]!, [...(found.get(match[1]!) ?? []), match[2]!])
  }
  return found
}

describe("MCP conformance (client scenarios, Streamable HTTP)", () => {
  for (
    const { scenario, checks } of [
      { scenario: "initialize", checks: ["mcp-client-initialization"] },
      { scenario: "tools_call", checks: ["tool-add-numbers"] },
      { scenario: "sse-retry", checks: ["client-sse-graceful-reconnect", "client-sse-retry-timing", "client-sse-last-event-id"] }
    ]
  ) {
    it(`${scenario}: every check passes`, async () => {
      const { code, output } = await runScenario(scenario)
      const found = verdicts(output)
      for (const check of checks) {
        expect(found.get(check), `${check} in:\n${output}`).toEqual(["SUCCESS"])
      }
      expect([...found].filter(([, v]) => v.includes("FAILURE")), output).toEqual([])
      expect(output).toContain("OVERALL: PASSED")
      expect(code, output).toBe(0)
    }, bound + 10_000)
  }
})
