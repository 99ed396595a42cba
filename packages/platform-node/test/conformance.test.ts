/**
 * The MCP client scenarios of `@modelcontextprotocol/conformance` that need no OAuth, for every protocol
 * version each lists, run by the official runner against `fixtures/conformanceClient.ts`: pinned to the
 * scenario's version, and negotiated (`auto`). The runner starts each scenario's server on this machine and
 * judges what the client did on the wire (the handshake of each version, tool calls, SEP-1699's polling of
 * a stream the server closed, 2026-07-28's `_meta` envelope and version retry, its MCP headers and the
 * tools it must leave out, JSON Schemas kept as given, an elicitation's defaults filled in, 2026-07-28's
 * rounds of input). The scenarios expected to fail are in `conformance-expected-failures.yaml`, each with
 * its reason.
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
const expectedFailures = fileURLToPath(new URL("./conformance-expected-failures.yaml", import.meta.url))
const bound = 150_000

interface Run {
  readonly code: number | null
  readonly output: string
}

/** Runs one scenario in a scratch directory (the runner writes its results there), bounded. */
const runScenario = (scenario: string, version: string, auto: boolean): Promise<Run> =>
  new Promise((resolve) => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-conformance-"))
    const child = spawn(
      "npx",
      [
        "-y", "-p", "node@22", "--", "node", runner, "client",
        "--scenario", scenario,
        "--spec-version", version,
        "--expected-failures", expectedFailures,
        "--command", `${process.execPath} --import ${tsx} ${client}`
      ],
      {
        cwd,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", ...(auto ? { MCP_CONFORMANCE_AUTO: "1" } : {}) }
      }
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

/** Each scenario, the versions it lists, and the checks it must pass. */
const scenarios: ReadonlyArray<{ readonly scenario: string; readonly versions: ReadonlyArray<string>; readonly checks: ReadonlyArray<string> }> = [
  { scenario: "initialize", versions: ["2025-06-18", "2025-11-25"], checks: ["mcp-client-initialization"] },
  { scenario: "tools_call", versions: ["2025-06-18", "2025-11-25", "2026-07-28"], checks: ["tool-add-numbers"] },
  {
    scenario: "sse-retry",
    versions: ["2025-11-25"],
    checks: ["client-sse-graceful-reconnect", "client-sse-retry-timing", "client-sse-last-event-id"]
  },
  {
    scenario: "request-metadata",
    versions: ["2026-07-28"],
    checks: ["sep-2575-client-retry-supported-version", "sep-2575-http-client-sends-version-header", "sep-2575-http-version-header-matches-meta"]
  },
  { scenario: "http-standard-headers", versions: ["2026-07-28"], checks: ["sep-2243-client-includes-standard-headers"] },
  { scenario: "http-custom-headers", versions: ["2026-07-28"], checks: ["sep-2243-client-supports-custom-headers", "sep-2243-client-encode-values"] },
  { scenario: "http-invalid-tool-headers", versions: ["2026-07-28"], checks: ["sep-2243-client-reject-invalid-tool"] },
  { scenario: "json-schema-ref-no-deref", versions: ["2026-07-28"], checks: [] },
  { scenario: "json-schema-2020-12-preservation", versions: ["2025-11-25", "2026-07-28"], checks: [] },
  {
    scenario: "elicitation-sep1034-client-defaults",
    versions: ["2025-11-25"],
    checks: [
      "client-elicitation-sep1034-string-default",
      "client-elicitation-sep1034-integer-default",
      "client-elicitation-sep1034-number-default",
      "client-elicitation-sep1034-enum-default",
      "client-elicitation-sep1034-boolean-default"
    ]
  },
  {
    scenario: "sep-2322-client-request-state",
    versions: ["2026-07-28"],
    checks: [
      "sep-2322-client-request-state-echoed",
      "sep-2322-client-jsonrpc-id-different",
      "sep-2322-client-no-state-omitted",
      "sep-2322-client-parallel-isolation",
      "sep-2322-default-result-type-complete"
    ]
  }
]

describe("MCP conformance (client scenarios, Streamable HTTP)", () => {
  for (const { checks, scenario, versions } of scenarios) {
    for (const version of versions) {
      for (const auto of [false, true]) {
        it(`${scenario} at ${version}${auto ? ", negotiated" : ""}: every check passes`, async () => {
          const { code, output } = await runScenario(scenario, version, auto)
          const found = verdicts(output)
          for (const check of checks) {
            expect(found.get(check)?.every((v) => v === "SUCCESS"), `${check} in:\n${output}`).toBe(true)
          }
          expect([...found].filter(([, v]) => v.includes("FAILURE") || v.includes("WARNING")), output).toEqual([])
          expect(output).toContain("OVERALL: PASSED")
          expect(code, output).toBe(0)
        }, bound + 10_000)
      }
    }
  }
})
