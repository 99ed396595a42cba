/**
 * The mcpServers configuration: every field, through Config (plain objects and any provider), ${VAR}
 * expansion, and errors that name the server and the field without quoting a secret.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import { McpServers, McpSessionPolicy } from "../src/index.js"

const environment = ConfigProvider.fromMap(new Map([["TOKEN", "s3cr3t"], ["HOME", "/home/ada"], ["HOST", "127.0.0.1"]]))

const full = {
  mcpServers: {
    files: {
      command: "npx",
      args: ["-y", "server-filesystem", "${HOME}/docs"],
      env: { API_KEY: "${TOKEN}", MODE: "ro" },
      cwd: "${HOME}",
      prefix: "fs",
      requestTimeout: "30 seconds",
      closeTimeout: 500,
      maxPages: 10,
      keepAlive: false
    },
    github: {
      type: "http",
      url: "http://${HOST}:8080/mcp?x=1",
      headers: { Authorization: "Bearer ${TOKEN}", "X-Static": "yes" },
      replay: "Idempotent",
      maxReplays: 2,
      whileReconnecting: "fail",
      maxWait: "10 seconds",
      keepAlive: { interval: "5 seconds", timeout: "1 second", maxMissed: 3 },
      maxRetryAfter: "2 seconds",
      resetAfter: "1 minute",
      protocolVersion: "2025-06-18"
    },
    legacy: { type: "sse", url: "http://127.0.0.1:8080/sse" },
    bare: { command: "mcp-echo", args: [], env: {} }
  }
}

const configError = <A>(result: Either.Either<A, ConfigError.ConfigError>): string => {
  assert.isTrue(Either.isLeft(result), "expected a ConfigError")
  return String((result as Either.Left<ConfigError.ConfigError, A>).left)
}

const parse = (json: unknown) => McpServers.fromJson(json, { environment }).pipe(Effect.either)

describe("McpServers", () => {
  it.effect("reads every field of stdio, Streamable HTTP and SSE entries, expanding ${VAR}", () =>
    Effect.gen(function*() {
      const servers = yield* McpServers.fromJson(full, { environment })
      assert.deepStrictEqual(servers.map((s) => s.name), ["bare", "files", "github", "legacy"])
      const [bare, files, github, legacy] = servers
      assert(bare?._tag === "Stdio" && files?._tag === "Stdio" && github?._tag === "StreamableHttp")
      assert.deepStrictEqual(bare.args, [])
      assert.deepStrictEqual(bare.env, {})
      assert.deepStrictEqual(bare.overrides, {})
      assert.strictEqual(bare.prefix, undefined)

      assert.strictEqual(files.command, "npx")
      assert.deepStrictEqual(files.args, ["-y", "server-filesystem", "/home/ada/docs"])
      assert.strictEqual(files.cwd, "/home/ada")
      assert.isTrue(Redacted.isRedacted(files.env.API_KEY))
      assert.strictEqual(Redacted.value(files.env.API_KEY!), "s3cr3t")
      assert.strictEqual(Redacted.value(files.env.MODE!), "ro")
      assert.strictEqual(files.prefix, "fs")
      assert.deepStrictEqual(McpServers.sessionOptions(files), {
        requestTimeout: Duration.seconds(30),
        closeTimeout: Duration.millis(500),
        maxPages: 10
      })
      assert.strictEqual(McpServers.policy(files).keepAlive, undefined)

      assert.strictEqual(github.url, "http://127.0.0.1:8080/mcp?x=1")
      assert.strictEqual(Redacted.value(github.headers.Authorization!), "Bearer s3cr3t")
      assert.strictEqual(github.protocolVersion, "2025-06-18")
      // the pin reaches the entry's sessions
      assert.deepStrictEqual(McpServers.sessionOptions(github), { protocolVersion: "2025-06-18" })
      const policy = McpServers.policy(github)
      assert.strictEqual(policy.replay, "Idempotent")
      assert.strictEqual(policy.maxReplays, 2)
      assert.strictEqual(policy.whileReconnecting, "fail")
      assert.isTrue(Duration.equals(policy.maxWait, Duration.seconds(10)))
      assert.isTrue(Duration.equals(policy.maxRetryAfter, Duration.seconds(2)))
      assert.isTrue(Duration.equals(policy.resetAfter, Duration.minutes(1)))
      assert.deepStrictEqual(policy.keepAlive, { interval: Duration.seconds(5), timeout: Duration.seconds(1), maxMissed: 3 })
      // what was not overridden is the base policy's
      assert.strictEqual(policy.reconnect, McpSessionPolicy.defaultPolicy.reconnect)

      assert.strictEqual(legacy?._tag, "Sse")
      // no secret and no query in a description
      assert.strictEqual(McpServers.describe(github), "github: http://127.0.0.1:8080/mcp (Streamable HTTP)")
      assert.notInclude(JSON.stringify(servers), "s3cr3t")
    }))

  it.effect("reads through any ConfigProvider: the same entries from a flat map", () =>
    Effect.gen(function*() {
      const servers = yield* McpServers.load({ environment }).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(
          new Map([
            ["mcpServers.remote.url", "http://127.0.0.1:9/mcp"],
            ["mcpServers.remote.headers.Authorization", "Bearer ${TOKEN}"],
            ["mcpServers.local.command", "node"],
            ["mcpServers.local.args", "a,b"]
          ])
        ))
      )
      assert.deepStrictEqual(servers.map((s) => s._tag), ["Stdio", "StreamableHttp"])
      const [local, remote] = servers
      assert(local?._tag === "Stdio" && remote?._tag === "StreamableHttp")
      assert.deepStrictEqual(local.args, ["a", "b"])
      assert.strictEqual(Redacted.value(remote.headers.Authorization!), "Bearer s3cr3t")
    }))

  it.effect("a VS Code file keeps its servers under \"servers\"", () =>
    Effect.gen(function*() {
      const servers = yield* McpServers.fromJson({ servers: { a: { type: "stdio", command: "x" } } }, { key: "servers" })
      assert.strictEqual(servers[0]?.name, "a")
    }))

  it.effect("an unset ${VAR} fails naming the server, the field and the variable", () =>
    Effect.gen(function*() {
      const header = configError(yield* parse({ mcpServers: { gh: { url: "http://h/", headers: { Authorization: "Bearer ${NOPE}" } } } }))
      assert.include(header, "mcpServers.gh.headers.Authorization")
      assert.include(header, "${NOPE}")
      const arg = configError(yield* parse({ mcpServers: { fs: { command: "x", args: ["ok", "${MISSING}"] } } }))
      assert.include(arg, "mcpServers.fs.args.1")
      assert.include(arg, "${MISSING}")
    }))

  it.effect("bad input fails with the path of the field and what was expected", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, ReadonlyArray<string>]> = [
        [{ mcpServers: { a: { args: ["x"] } } }, ["mcpServers.a", `"command"`, `"url"`]],
        [{ mcpServers: { a: { command: "x", url: "http://h/" } } }, ["mcpServers.a", "not both"]],
        [{ mcpServers: { a: { command: "x", type: "sse" } } }, ["mcpServers.a.type"]],
        [{ mcpServers: { a: { url: "http://h/", type: "stdio" } } }, ["mcpServers.a.type"]],
        [{ mcpServers: { a: { url: "http://h/", type: "websocket" } } }, ["mcpServers.a.type"]],
        [{ mcpServers: { a: { url: "ftp://h/" } } }, ["mcpServers.a.url", "http(s)"]],
        [{ mcpServers: { a: { url: "not a url" } } }, ["mcpServers.a.url"]],
        [{ mcpServers: { a: { url: "http://h/", env: { X: "1" } } } }, ["mcpServers.a.env"]],
        [{ mcpServers: { a: { command: "x", headers: { X: "1" } } } }, ["mcpServers.a.headers"]],
        [{ mcpServers: { a: { command: "x", requestTimeout: "soon" } } }, ["mcpServers.a.requestTimeout", "duration"]],
        [{ mcpServers: { a: { command: "x", maxReplays: -1 } } }, ["mcpServers.a.maxReplays"]],
        [{ mcpServers: { a: { command: "x", replay: "Sometimes" } } }, ["mcpServers.a.replay"]],
        [{ mcpServers: { a: { command: "x", whileReconnecting: "maybe" } } }, ["mcpServers.a.whileReconnecting"]],
        [{ mcpServers: { a: { command: "x", keepAlive: { interval: "soon" } } } }, ["mcpServers.a.keepAlive"]],
        [{ mcpServers: { a: { command: "x", protocolVersion: "latest" } } }, ["mcpServers.a.protocolVersion"]],
        [{ mcpServers: { a: { command: "x", prefix: "a b" } } }, ["mcpServers.a.prefix"]],
        [{ mcpServers: { a: { command: "x", maxPages: 0 } } }, ["mcpServers.a.maxPages"]],
        [{ mcpServers: { a: {} } }, ["mcpServers.a", `"command"`]],
        [{ mcpServers: { a: "npx server" } }, ["mcpServers.a", "object"]],
        [{ other: {} }, ["mcpServers"]],
        [[1, 2], ["mcpServers"]]
      ]
      for (const [json, expected] of cases) {
        const result = yield* parse(json)
        assert.isTrue(Either.isLeft(result), JSON.stringify(json))
        const message = configError(result)
        for (const part of expected) assert.include(message, part, JSON.stringify(json))
      }
    }))

  it.effect("a header value that would split the request fails without quoting the value", () =>
    Effect.gen(function*() {
      const message = configError(
        yield* parse({ mcpServers: { a: { url: "http://h/", headers: { Authorization: "Bearer ${TOKEN}\nX: y" } } } })
      )
      assert.include(message, "mcpServers.a.headers.Authorization")
      assert.include(message, "line feed")
      assert.notInclude(message, "s3cr3t")
    }))
})
