/**
 * Several configured servers at once: `tools --config f` lists every server's tools, prefixed, and says
 * which servers are down; `call --config f <server>__<tool>` calls one.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fixture, jsonOf, runCli, tempDir } from "./utils.js"

const Code = { Success: 0, ToolError: 1, UsageError: 2, TransportCrashed: 3 }

const configFile = Effect.gen(function*() {
  const dir = yield* tempDir
  const file = path.join(dir, "mcp.json")
  fs.writeFileSync(file, JSON.stringify({
    mcpServers: {
      alpha: { command: process.execPath, args: [fixture] },
      beta: { command: process.execPath, args: [fixture], prefix: "b" },
      down: { command: path.join(dir, "no-such-command") }
    }
  }))
  return file
})

describe("several configured servers", () => {
  it.scopedLive("tools --config lists every server's tools with their prefixes; a server down is reported, the others listed", () =>
    Effect.gen(function*() {
      const file = yield* configFile
      const ran = yield* runCli("tools", "--json", "--config", file, "--retries", "0")
      assert.strictEqual(ran.code, Code.Success, ran.stderr)
      const result = jsonOf(ran).result
      const names: Array<string> = result.tools.map((t: { name: string }) => t.name)
      assert.includeMembers(names, ["alpha__echo", "b__echo"])
      assert.isFalse(names.some((name) => name.startsWith("down__")))
      assert.strictEqual(result.servers.alpha.status, "Ready")
      assert.strictEqual(result.servers.down.status, "Unavailable")
      assert.include(JSON.stringify(result.servers.down.error), "SpawnFailed")

      const table = yield* runCli("tools", "--config", file, "--retries", "0")
      assert.strictEqual(table.code, Code.Success, table.stderr)
      assert.match(table.stdout, /^alpha__echo\s+read-only\s+echoes `message`$/m)
      assert.include(table.stderr, "down:")
      assert.include(table.stderr, "from 2 of 3 servers")
    }))

  it.scopedLive("call takes a prefixed name and routes it to its server", () =>
    Effect.gen(function*() {
      const file = yield* configFile
      const ran = yield* runCli("call", "--json", "--config", file, "b__echo", `{"message":"via prefix"}`)
      assert.strictEqual(ran.code, Code.Success, ran.stderr)
      assert.strictEqual(jsonOf(ran).result.content[0].text, "echo: via prefix")
      assert.include(jsonOf(ran).server, "beta: stdio")
      // the unprefixed form still works
      const plain = yield* runCli("call", "--json", "--config", file, "alpha", "echo", `{"message":"plain"}`)
      assert.strictEqual(jsonOf(plain).result.content[0].text, "echo: plain")
    }))

  it.scopedLive("a prefixed name of no server, or of no tool, is a usage error; a server that is down says why", () =>
    Effect.gen(function*() {
      const file = yield* configFile
      const noServer = yield* runCli("call", "--json", "--config", file, "gamma__echo")
      assert.strictEqual(noServer.code, Code.UsageError, noServer.stderr)
      assert.include(jsonOf(noServer).error.message, "alpha, b, down")
      const noTool = yield* runCli("call", "--json", "--config", file, "alpha__nope")
      assert.strictEqual(noTool.code, Code.UsageError, noTool.stderr)
      assert.include(jsonOf(noTool).error.message, `no tool named "alpha__nope"`)
      const down = yield* runCli("call", "--json", "--config", file, "--retries", "0", "down__echo")
      assert.strictEqual(down.code, Code.TransportCrashed, down.stderr)
      assert.include(JSON.stringify(jsonOf(down).error), "SpawnFailed")
    }))
})
