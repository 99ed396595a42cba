/**
 * Configured servers on Node: a config file read through Config, each entry's transport with an identity's
 * credentials, and real stdio children pooled per identity and ended with the pool.
 */
import { NodeMcpServers } from "@effect-mcp/platform-node"
import { McpServers, McpSessionPolicy, McpSessionPool, McpToolset } from "@effect-mcp/session"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { scriptedServer } from "./fixtures/scriptedServer.js"
import { clientInfo, isAlive, stdioFixture, until } from "./utils.js"

const tempFile = (content: string) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "effect-mcp-servers-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    ),
    (dir) => {
      const file = join(dir, "mcp.json")
      writeFileSync(file, content)
      return file
    }
  )

const textOf = (result: { readonly content: ReadonlyArray<unknown> }) => (result.content[0] as { text: string }).text

describe("NodeMcpServers", () => {
  it.scopedLive("a config file's stdio server, pooled per identity: one child each, all ended with the pool", () =>
    Effect.gen(function*() {
      const file = yield* tempFile(JSON.stringify({
        mcpServers: { fixture: { command: process.execPath, args: [stdioFixture], env: { FROM_FILE: "${FIXTURE_VALUE}" } } }
      }))
      const servers = yield* NodeMcpServers.fromFile(file, {
        environment: ConfigProvider.fromMap(new Map([["FIXTURE_VALUE", "x"]]))
      })
      const poolScope = yield* Scope.make()
      const pool = yield* Layer.buildWithScope(
        NodeMcpServers.layerPool({ servers, clientInfo, policy: McpSessionPolicy.make({ keepAlive: false }) }),
        poolScope
      ).pipe(Effect.map(Context.get(McpSessionPool.McpSessionPool)))
      const ada = yield* pool.identity({ env: { USER_TOKEN: "ada" } })
      const bob = yield* pool.identity({ env: { USER_TOKEN: "bob" } })
      const forAda = yield* McpToolset.make({ identity: ada }).pipe(
        Effect.provideService(McpSessionPool.McpSessionPool, pool),
        Scope.extend(poolScope)
      )
      const state = yield* forAda.ready
      assert.include(state.tools.map((t) => t.name), "fixture__pid")
      const adaPid = Number(textOf(yield* forAda.call("fixture__pid")))
      const adaEnv = JSON.parse(textOf(yield* forAda.call("fixture__env"))) as Array<string>
      assert.includeMembers(adaEnv, ["FROM_FILE", "USER_TOKEN"])
      const bobPid = Number(textOf(yield* pool.use("fixture", bob, (s) => s.callTool({ name: "pid" }))))
      const adaAgain = Number(textOf(yield* pool.use("fixture", ada, (s) => s.callTool({ name: "pid" }))))
      assert.notStrictEqual(adaPid, bobPid)
      assert.strictEqual(adaAgain, adaPid, "the same identity shares its child")
      assert.isTrue(isAlive(adaPid) && isAlive(bobPid))
      yield* Scope.close(poolScope, Exit.void)
      yield* until("both children exited", Effect.sync(() => !isAlive(adaPid) && !isAlive(bobPid)))
    }).pipe(Effect.provide(Layer.merge(NodeContext.layer, FetchHttpClient.layer))))

  it.scopedLive("an HTTP server gets the identity's headers on top of the entry's, replacing those of the same name", () =>
    Effect.gen(function*() {
      const server = yield* scriptedServer
      const servers = yield* McpServers.fromJson({
        mcpServers: { crm: { url: server.url, headers: { Authorization: "Bearer from-file", "X-Client": "agent" } } }
      })
      const pool = yield* Layer.build(NodeMcpServers.layerPool({ servers, clientInfo, policy: McpSessionPolicy.make({ keepAlive: false }) })).pipe(
        Effect.map(Context.get(McpSessionPool.McpSessionPool))
      )
      const ada = yield* pool.identity({ headers: { authorization: "Bearer ada" } })
      // building the session is enough: initialize and its notification go out with the headers
      yield* pool.use("crm", ada, () => Effect.void)
      const seen = server.requests.filter((r) => r.method === "POST")
      assert.isAbove(seen.length, 0)
      for (const request of seen) {
        assert.strictEqual(request.headers.authorization, "Bearer ada")
        assert.strictEqual(request.headers["x-client"], "agent")
      }
      yield* pool.use("crm", undefined, () => Effect.void)
      assert.strictEqual(server.requests.at(-1)?.headers.authorization, "Bearer from-file", "the anonymous identity: the file's own")
    }).pipe(Effect.provide(Layer.merge(NodeContext.layer, FetchHttpClient.layer))))

  it.scopedLive("a file that cannot be read, is not JSON, or has a bad entry fails with a ConfigError naming it", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(NodeMcpServers.fromFile("/nonexistent/mcp.json"))
      assert.include(String(missing), "/nonexistent/mcp.json")
      const notJson = yield* tempFile("{ nope")
      assert.include(String(yield* Effect.flip(NodeMcpServers.fromFile(notJson))), "not valid JSON")
      const bad = yield* tempFile(JSON.stringify({ mcpServers: { web: { url: "ftp://x/" } } }))
      const error = String(yield* Effect.flip(NodeMcpServers.fromFile(bad)))
      assert.include(error, "mcpServers.web.url")
    }).pipe(Effect.provide(NodeContext.layer)))
})
