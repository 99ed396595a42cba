/**
 * The command line in this process (output captured): parsing, `--json` shapes and exit codes against a
 * real stdio server (test/fixtures/server.mjs) and a closed port of 127.0.0.1.
 */
import { ExitCode } from "@effect-mcp/cli"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { closedPort, fixture, jsonOf, runCli, stdioFixture, tempDir } from "./utils.js"

const { ExitCode: Code } = ExitCode

describe("parsing", () => {
  it.live("usage errors exit 2 and say why, on stderr", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [[], "USAGE"],
        [["frobnicate", "http://127.0.0.1:1/mcp"], "Invalid subcommand"],
        [["tools"], "no <server> given"],
        [["call"], "Missing argument"],
        [["tools", "--timeout", "soon", "http://127.0.0.1:1/mcp"], "--timeout expects a duration"],
        [["tools", "--retries", "many", "http://127.0.0.1:1/mcp"], "integer"],
        [["tools", "--replay", "Sometimes", "http://127.0.0.1:1/mcp"], "NotDelivered"],
        [["call", "echo", "{not json", ...stdioFixture], "not valid JSON"],
        [["call", "echo", "[1,2]", ...stdioFixture], "must be a JSON object"],
        [["tools", "http://127.0.0.1:1/mcp", ...stdioFixture], "Received unknown argument"],
        [["tools", "no-such-server", "--config", "/nonexistent/mcp.json"], "cannot read the config file"],
        [["demo", ...stdioFixture], "unknown argument"],
        [["call", "http://127.0.0.1:1/mcp", "echo", ...stdioFixture], "either a <server> or -- command args, not both"],
        [["call", "http://127.0.0.1:1/mcp", `{"message":"hi"}`, ...stdioFixture], "either a <server> or -- command args, not both"],
        [["ping", "-H", "X-Test: a\nb", "http://127.0.0.1:1/mcp"], "--header X-Test: the value may not contain a line feed"]
      ]
      for (const [argv, message] of cases) {
        const ran = yield* runCli(...argv)
        assert.strictEqual(ran.code, Code.UsageError, `${argv.join(" ")}: ${ran.stderr}`)
        assert.include(ran.stderr, message, argv.join(" "))
        assert.strictEqual(ran.stdout, "", argv.join(" "))
      }
    }))

  it.live("with --json, a usage error is one JSON object on stdout too", () =>
    Effect.gen(function*() {
      const parse = yield* runCli("tools", "--json", "--timeout", "soon", "http://127.0.0.1:1/mcp")
      assert.strictEqual(parse.code, Code.UsageError)
      assert.deepInclude(jsonOf(parse), { ok: false, exitCode: 2 })
      assert.strictEqual(jsonOf(parse).error._tag, "UsageError")

      const spec = yield* runCli("call", "--json", "echo", "{oops", ...stdioFixture)
      const json = jsonOf(spec)
      assert.strictEqual(spec.code, Code.UsageError)
      assert.strictEqual(json.error._tag, "UsageError")
      assert.include(json.error.message, "not valid JSON")
      assert.strictEqual(json.command, "call")
      assert.isNumber(json.elapsedMs)
    }))

  it.live("options may come before the subcommand", () =>
    Effect.gen(function*() {
      const ran = yield* runCli("--json", "--timeout", "5s", "call", "echo", `{"message":"early"}`, ...stdioFixture)
      assert.strictEqual(ran.code, Code.Success, ran.stderr)
      assert.strictEqual(jsonOf(ran).result.content[0].text, "echo: early")
    }))

  it.live("--help and --version exit 0", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* runCli("--help")).code, Code.Success)
      assert.strictEqual((yield* runCli("call", "--help")).code, Code.Success)
      assert.strictEqual((yield* runCli("--version")).code, Code.Success)
    }))
})

describe("against a stdio server", () => {
  it.live("call: the result as JSON, with the elapsed ms", () =>
    Effect.gen(function*() {
      const ran = yield* runCli("call", "--json", "echo", `{"message":"hi"}`, ...stdioFixture)
      assert.strictEqual(ran.code, Code.Success, ran.stderr)
      const json = jsonOf(ran)
      assert.deepInclude(json, { ok: true, command: "call" })
      assert.include(json.server, "stdio")
      assert.isAbove(json.elapsedMs, 0)
      assert.isAtMost(json.callMs, json.elapsedMs)
      assert.deepStrictEqual(json.result.content, [{ type: "text", text: "echo: hi" }])
    }))

  it.live("call: plain output is the tool's text on stdout, progress lines on stderr", () =>
    Effect.gen(function*() {
      const ran = yield* runCli("call", "progress", ...stdioFixture)
      assert.strictEqual(ran.code, Code.Success, ran.stderr)
      assert.strictEqual(ran.stdout, "progress done\n")
      assert.include(ran.stderr, "progress 1/3\nprogress 2/3\nprogress 3/3\n")
      assert.include(ran.stderr, "✓ progress")
    }))

  it.live("a tool error exits 1, with the tool's result", () =>
    Effect.gen(function*() {
      const ran = yield* runCli("call", "--json", "fail", ...stdioFixture)
      assert.strictEqual(ran.code, Code.ToolError)
      const json = jsonOf(ran)
      assert.deepInclude(json, { ok: false, command: "call", exitCode: 1 })
      assert.strictEqual(json.error._tag, "ToolError")
      assert.strictEqual(json.error.toolName, "fail")
      assert.isTrue(json.result.isError)

      const plain = yield* runCli("call", "fail", ...stdioFixture)
      assert.strictEqual(plain.code, Code.ToolError)
      assert.strictEqual(plain.stdout, "it went wrong on purpose\n")
      assert.include(plain.stderr, "tool fail reported an error")
    }))

  it.live("a server that dies mid-call exits 3, with the crash's reason", () =>
    Effect.gen(function*() {
      const ran = yield* runCli("call", "--json", "--retries", "0", "exit", ...stdioFixture)
      assert.strictEqual(ran.code, Code.TransportCrashed, ran.stderr)
      const json = jsonOf(ran)
      assert.strictEqual(json.error._tag, "TransportCrashed")
      assert.strictEqual(json.error.reason._tag, "ProcessExited")
      assert.strictEqual(json.error.reason.code, 3)
      assert.include(json.error.reason.stderrTail, "exiting on purpose")
      assert.strictEqual(json.error.delivery, "MaybeDelivered")
      assert.isNumber(json.elapsedMs)
    }))

  it.live("no answer within --timeout exits 4", () =>
    Effect.gen(function*() {
      const ran = yield* runCli("call", "--json", "--timeout", "300ms", "slow", `{"ms":10000}`, ...stdioFixture)
      assert.strictEqual(ran.code, Code.Timeout, ran.stderr)
      const json = jsonOf(ran)
      assert.deepInclude(json.error, { _tag: "RequestTimeout", method: "tools/call", target: "slow", timeoutMillis: 300 })
      assert.isBelow(json.elapsedMs, 8_000)
    }))

  it.live("a server that never answers the handshake exits 4 after --connect-timeout", () =>
    Effect.gen(function*() {
      const silent = ["--", process.execPath, "-e", "setTimeout(() => {}, 60000)"]
      const ran = yield* runCli("ping", "--json", "--connect-timeout", "300ms", "--retries", "0", ...silent)
      assert.strictEqual(ran.code, Code.Timeout, ran.stderr)
      assert.strictEqual(jsonOf(ran).error._tag, "GaveUp")
      assert.isBelow(jsonOf(ran).elapsedMs, 8_000)
    }))

  it.live("a server slow to answer the handshake is named on stderr while the command waits", () =>
    Effect.gen(function*() {
      const silent = ["--", process.execPath, "-e", "setTimeout(() => {}, 60000)"]
      const ran = yield* runCli("ping", "--connect-timeout", "1500ms", "--retries", "0", ...silent)
      assert.strictEqual(ran.code, Code.Timeout, ran.stderr)
      assert.match(ran.stderr, /waiting for .* to answer the MCP handshake \(at most 1s 500ms an attempt: --connect-timeout\)/)
    }))

  it.live("a JSON-RPC error exits 5", () =>
    Effect.gen(function*() {
      const ran = yield* runCli("call", "--json", "protocol-error", ...stdioFixture)
      assert.strictEqual(ran.code, Code.ProtocolError, ran.stderr)
      assert.deepInclude(jsonOf(ran).error, { _tag: "ProtocolError", code: -32602 })
    }))

  it.live("tools, and ping", () =>
    Effect.gen(function*() {
      const tools = yield* runCli("tools", "--json", ...stdioFixture)
      assert.strictEqual(tools.code, Code.Success, tools.stderr)
      assert.includeMembers(jsonOf(tools).result.tools.map((t: { name: string }) => t.name), ["echo", "fail", "slow"])

      const table = yield* runCli("tools", ...stdioFixture)
      assert.match(table.stdout, /^echo\s+read-only\s+echoes `message`$/m)
      assert.include(table.stderr, "7 tools · cli-fixture 1.0.0")

      const ping = yield* runCli("ping", "--json", ...stdioFixture)
      assert.strictEqual(ping.code, Code.Success, ping.stderr)
      assert.isNumber(jsonOf(ping).result.pingMs)
      assert.strictEqual(jsonOf(ping).result.serverInfo.name, "cli-fixture")
    }))

  it.scopedLive("a name from an mcpServers config file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "mcp.json")
      fs.writeFileSync(file, JSON.stringify({ mcpServers: { fixture: { command: process.execPath, args: [fixture] } } }))
      const ran = yield* runCli("call", "--json", "--config", file, "fixture", "echo", `{"message":"from config"}`)
      assert.strictEqual(ran.code, Code.Success, ran.stderr)
      assert.strictEqual(jsonOf(ran).result.content[0].text, "echo: from config")
      assert.include(jsonOf(ran).server, "fixture: stdio")
    }))

  it.live("watch: lifecycle, notifications and pings as JSON lines", () =>
    Effect.gen(function*() {
      const ran = yield* runCli("watch", "--json", "--count", "2", "--interval", "50ms", ...stdioFixture)
      assert.strictEqual(ran.code, Code.Success, ran.stderr)
      const events = ran.stdout.trim().split("\n").map((line) => JSON.parse(line))
      assert.strictEqual(events[0].event, "Connected")
      assert.strictEqual(events[0].serverInfo.name, "cli-fixture")
      const pings = events.filter((e) => e.event === "Ping")
      assert.strictEqual(pings.length, 2)
      assert.isNumber(pings[0].latencyMs)
      assert.strictEqual(pings[0].generation, 1)
    }))

  it.live("watch: a failed ping has its latencyMs; elapsedMs counts from the start of the command", () =>
    Effect.gen(function*() {
      const ran = yield* runCli("watch", "--json", "--count", "1", "--interval", "50ms", "--timeout", "300ms", ...stdioFixture, "--no-ping")
      assert.strictEqual(ran.code, Code.Success, ran.stderr)
      const events = ran.stdout.trim().split("\n").map((line) => JSON.parse(line))
      const connected = events.find((e) => e.event === "Connected")
      const failed = events.find((e) => e.event === "PingFailed")
      assert.isDefined(failed, ran.stdout)
      assert.strictEqual(failed.error._tag, "RequestTimeout")
      assert.isAtLeast(failed.latencyMs, 250)
      // the ping started after the connection: the command's elapsed time is the longer one
      assert.isAbove(failed.elapsedMs, connected.elapsedMs)
      assert.isAtLeast(failed.elapsedMs, failed.latencyMs)
    }))
})

describe("against nothing", () => {
  it.live("a refused connection exits 3 once the retries give up", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const ran = yield* runCli("ping", "--json", "--retries", "1", `http://127.0.0.1:${port}/mcp`)
      assert.strictEqual(ran.code, Code.TransportCrashed, ran.stderr)
      const json = jsonOf(ran)
      assert.strictEqual(json.error._tag, "GaveUp")
      assert.strictEqual(json.error.attempts, 2)
      assert.strictEqual(json.error.reason._tag, "ConnectionFailed")
      assert.strictEqual(json.server, `http://127.0.0.1:${port}/mcp (Streamable HTTP)`)
    }))

  it.scopedLive("a wrong URL (404 before any answer) exits 3 at once: the policy does not retry it", () =>
    Effect.gen(function*() {
      let posts = 0
      const server = yield* Effect.acquireRelease(
        Effect.async<http.Server>((resume) => {
          const s = http.createServer((req, res) => {
            if (req.method === "POST") posts++
            res.writeHead(404, { "content-type": "text/plain" }).end("Not Found")
          })
          s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
        }),
        (s) => Effect.sync(() => s.close())
      )
      const { port } = server.address() as AddressInfo
      const ran = yield* runCli("ping", "--json", "--retries", "5", `http://127.0.0.1:${port}/wrong`)
      assert.strictEqual(ran.code, Code.TransportCrashed, ran.stderr)
      const json = jsonOf(ran)
      assert.strictEqual(json.error._tag, "GaveUp")
      assert.strictEqual(json.error.attempts, 1)
      assert.strictEqual(json.error.reason._tag, "HttpStatus")
      assert.strictEqual(posts, 1)
    }))

  it.live("a command that cannot start exits 3 at once: SpawnFailed is not retried", () =>
    Effect.gen(function*() {
      const ran = yield* runCli("tools", "--json", "--retries", "5", "--", "/nonexistent/mcp-server")
      assert.strictEqual(ran.code, Code.TransportCrashed)
      const json = jsonOf(ran)
      assert.strictEqual(json.error.attempts, 1)
      assert.strictEqual(json.error.reason._tag, "SpawnFailed")
    }))
})
