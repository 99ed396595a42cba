/**
 * How a command line names a server: URLs, `-- command args`, config files, and what is a usage error.
 */
import { CliError, ServerSpec } from "@effect-mcp/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as path from "node:path"
import { tempDir } from "./utils.js"

const input = (overrides: Partial<ServerSpec.ServerSpec.Input>): ServerSpec.ServerSpec.Input => ({
  server: undefined,
  stdio: undefined,
  sse: false,
  headers: [],
  env: [],
  inheritEnv: false,
  config: undefined,
  ...overrides
})

const resolve = (overrides: Partial<ServerSpec.ServerSpec.Input>) =>
  ServerSpec.resolve(input(overrides)).pipe(Effect.either, Effect.provide(NodeContext.layer))

const usageError = <A>(result: Either.Either<A, CliError.UsageError>): string => {
  assert.isTrue(Either.isLeft(result), "expected a usage error")
  const error = (result as Either.Left<CliError.UsageError, A>).left
  assert.isTrue(CliError.isUsageError(error))
  return error.message
}

const config = {
  mcpServers: {
    local: { command: "node", args: ["server.js", "--token=${TOKEN}"], env: { API_KEY: "${TOKEN}" } },
    remote: { url: "http://127.0.0.1:8080/mcp", headers: { Authorization: "Bearer ${TOKEN}" } },
    legacy: { type: "sse", url: "http://127.0.0.1:8080/sse" },
    broken: { args: ["no command"] }
  }
}

describe("ServerSpec", () => {
  it.effect("a URL is Streamable HTTP, or legacy SSE with --sse; headers are parsed", () =>
    Effect.gen(function*() {
      const http = yield* resolve({ server: "http://127.0.0.1:3001/mcp", headers: ["Authorization: Bearer x", "X-Trace:1"] })
      assert.deepStrictEqual(
        http,
        Either.right(ServerSpec.StreamableHttp({
          url: "http://127.0.0.1:3001/mcp",
          headers: { Authorization: "Bearer x", "X-Trace": "1" },
          name: undefined
        }))
      )
      const sse = yield* resolve({ server: "http://127.0.0.1:3001/sse", sse: true })
      assert.strictEqual(Either.getOrThrow(sse)._tag, "Sse")
    }))

  it.effect("-- command args is stdio, with --env", () =>
    Effect.gen(function*() {
      const spec = yield* resolve({ stdio: ["node", "server.js", "--flag"], env: ["A=1", "B=x=y"] })
      assert.deepStrictEqual(
        spec,
        Either.right(ServerSpec.Stdio({
          command: "node",
          args: ["server.js", "--flag"],
          env: { A: "1", B: "x=y" },
          cwd: undefined,
          inheritEnv: false,
          name: undefined
        }))
      )
    }))

  it.effect("bad input is a usage error that says what is wrong", () =>
    Effect.gen(function*() {
      assert.include(usageError(yield* resolve({})), "missing <server>")
      assert.include(usageError(yield* resolve({ server: "ftp://example/x" })), "ftp:// URLs are not supported")
      assert.include(usageError(yield* resolve({ server: "http://[bad" })), "not a valid URL")
      assert.include(usageError(yield* resolve({ server: "http://127.0.0.1/", headers: ["no colon"] })), "--header expects")
      assert.include(usageError(yield* resolve({ stdio: ["node"], headers: ["A: b"] })), "HTTP servers only")
      assert.include(usageError(yield* resolve({ stdio: ["node"], sse: true })), "HTTP servers only")
      assert.include(usageError(yield* resolve({ server: "http://127.0.0.1/", env: ["A=1"] })), "stdio servers")
      assert.include(usageError(yield* resolve({ stdio: [] })), "must be followed by a command")
      assert.include(usageError(yield* resolve({ server: "x", stdio: ["node"] })), "not both")
      assert.include(usageError(yield* resolve({ stdio: ["node"], env: ["1BAD=x"] })), "--env expects")
    }))

  it.scopedLive("a name is looked up in the config file, with ${VAR} expanded", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "servers.json")
      process.env.MCP_SESSION_TEST_TOKEN = "s3cret"
      const withToken = JSON.parse(JSON.stringify(config).replaceAll("${TOKEN}", "${MCP_SESSION_TEST_TOKEN}"))
      fs.writeFileSync(file, JSON.stringify(withToken))

      const local = Either.getOrThrow(yield* resolve({ server: "local", config: file, env: ["EXTRA=1"] }))
      assert.deepStrictEqual(
        local,
        ServerSpec.Stdio({
          command: "node",
          args: ["server.js", "--token=s3cret"],
          env: { API_KEY: "s3cret", EXTRA: "1" },
          cwd: undefined,
          inheritEnv: false,
          name: "local"
        })
      )
      const remote = Either.getOrThrow(yield* resolve({ server: "remote", config: file, headers: ["X-Extra: 1"] }))
      assert.deepStrictEqual(
        remote,
        ServerSpec.StreamableHttp({
          url: "http://127.0.0.1:8080/mcp",
          headers: { Authorization: "Bearer s3cret", "X-Extra": "1" },
          name: "remote"
        })
      )
      assert.strictEqual(Either.getOrThrow(yield* resolve({ server: "legacy", config: file }))._tag, "Sse")
      // never the secret in what is shown
      assert.notInclude(ServerSpec.describe(remote), "s3cret")
      delete process.env.MCP_SESSION_TEST_TOKEN
    }))

  it.scopedLive("config problems are usage errors", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "servers.json")
      fs.writeFileSync(file, JSON.stringify(config))
      const unknown = usageError(yield* resolve({ server: "nope", config: file }))
      assert.include(unknown, `no server named "nope"`)
      assert.include(unknown, "local, remote, legacy, broken")
      assert.include(usageError(yield* resolve({ server: "broken", config: file })), `needs either "command"`)
      assert.include(usageError(yield* resolve({ server: "local", config: file })), "${TOKEN}, which is not set")
      assert.include(usageError(yield* resolve({ server: "local", config: path.join(dir, "missing.json") })), "cannot read")
      fs.writeFileSync(file, "{ not json")
      assert.include(usageError(yield* resolve({ server: "local", config: file })), "not valid JSON")
      fs.writeFileSync(file, JSON.stringify({ servers: {} }))
      assert.include(usageError(yield* resolve({ server: "local", config: file })), "not an mcpServers config file")
    }))

  it("fromConfig and parseHeader work on plain values", () => {
    const spec = ServerSpec.fromConfig(config, "legacy", "inline", {})
    assert.strictEqual(Either.getOrThrow(spec)._tag, "Sse")
    assert.deepStrictEqual(ServerSpec.parseHeader("Accept:  text/plain "), Either.right(["Accept", "text/plain"] as const))
    assert.isTrue(Either.isLeft(ServerSpec.parseHeader(": value")))
    assert.deepStrictEqual(ServerSpec.parseHeader("X-Ok: a\tb é"), Either.right(["X-Ok", "a\tb é"] as const))
  })

  it("a header value with a line break or a control character is a usage error, without the value", () => {
    for (const [value, what] of [["a\nb", "a line feed"], ["a\r\nX-Evil: 1", "a carriage return"], ["a\u0000b", "the character U+0000"], ["a\u007fb", "the character U+007F"]]) {
      const message = usageError(ServerSpec.parseHeader(`X-Test: s3cret${value}`))
      assert.include(message, `--header X-Test: the value may not contain ${what}`)
      assert.notInclude(message, "s3cret")
    }
    const fromConfig = ServerSpec.fromConfig(
      { mcpServers: { remote: { url: "http://127.0.0.1:8080/mcp", headers: { Authorization: "Bearer ${TOKEN}" } } } },
      "remote",
      "inline",
      { TOKEN: "s3cret\nX-Evil: 1" }
    )
    assert.include(usageError(fromConfig), `inline: mcpServers.remote.headers.Authorization: the value may not contain a line feed`)
  })
})
