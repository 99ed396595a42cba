import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as net from "node:net"
import { EverythingServer } from "../src/index.js"
import { isAlive } from "../src/internal/everything.js"
import { childPidsOf, killPid, until } from "./utils.js"

/** This process's server-everything children: none may outlive a test (any left are killed at its end). */
const servers = Effect.acquireRelease(
  Effect.sync(() => () => childPidsOf("server-everything")),
  (list) => Effect.sync(() => list().forEach(killPid))
)

/** Listening sockets on `port` in /proc/net/tcp and tcp6, as their hex local address (`0100007F` is 127.0.0.1). */
const listeners = (port: number): Array<string> => {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`
  return ["/proc/net/tcp", "/proc/net/tcp6"].flatMap((file) =>
    fs.readFileSync(file, "utf8").split("\n").slice(1).flatMap((line) => {
      const [, local, , state] = line.trim().split(/\s+/)
      return local !== undefined && local.endsWith(hex) && state === "0A" ? [local.slice(0, -hex.length)] : []
    })
  )
}

describe("EverythingServer", () => {
  for (const transport of ["streamableHttp", "sse"] as const) {
    it.live(`starts over ${transport}, waits until it listens, and is gone when its scope closes`, () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const server = yield* EverythingServer.start({ transport }).pipe(Scope.extend(scope))
        assert.match(server.url, new RegExp(`^http://127\\.0\\.0\\.1:${server.port}/${transport === "sse" ? "sse" : "mcp"}$`))
        assert.isTrue(yield* server.isAlive)
        yield* Scope.close(scope, Exit.void)
        assert.isFalse(yield* server.isAlive)
      }))

    it.scopedLive.skipIf(!fs.existsSync("/proc/net/tcp6"))(`over ${transport}, it listens on 127.0.0.1 only`, () =>
      Effect.gen(function*() {
        yield* servers
        const server = yield* EverythingServer.start({ transport })
        assert.deepStrictEqual(listeners(server.port), ["0100007F"])
      }))
  }

  it.scopedLive("a start that does not listen within startTimeout fails at the bound, its process killed", () =>
    Effect.gen(function*() {
      const children = yield* servers
      const result = yield* Effect.either(EverythingServer.start({ startTimeout: "50 millis" }))
      assert.isTrue(Either.isLeft(result) && EverythingServer.isServerFailed(result.left), String(result))
      assert.include((result as Either.Left<EverythingServer.ServerFailed, unknown>).left.message, "not listening")
      assert.deepStrictEqual(children(), [], "the server process outlived its failed start")
    }))

  it.scopedLive("interrupting a start that waits kills its process at once", () =>
    Effect.gen(function*() {
      const children = yield* servers
      const fiber = yield* Effect.fork(Effect.scoped(EverythingServer.start({ startTimeout: "60 seconds" })))
      yield* until(() => children().length === 1, "20 seconds", "the server process")
      const [pid] = children()
      // stopped, it never listens: only the interruption can end the wait
      process.kill(pid!, "SIGSTOP")
      const interrupted = yield* Fiber.interrupt(fiber).pipe(Effect.timeout("10 seconds"), Effect.option)
      assert.isTrue(Option.isSome(interrupted), "the interruption waited for the start")
      assert.isTrue(Exit.isInterrupted(Option.getOrThrow(interrupted)))
      assert.isFalse(isAlive(pid!))
    }))

  it.scopedLive("a port in use or out of range fails with ServerFailed", () =>
    Effect.gen(function*() {
      const children = yield* servers
      const taken = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const server = net.createServer((socket) => socket.destroy())
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const port = (taken.address() as net.AddressInfo).port
      const inUse = yield* Effect.flip(Effect.scoped(EverythingServer.start({ port })))
      assert.isTrue(EverythingServer.isServerFailed(inUse))
      assert.include(inUse.message, "already in use")
      for (const bad of [0, 70000, 1.5]) {
        const error = yield* Effect.flip(Effect.scoped(EverythingServer.start({ port: bad })))
        assert.include(error.message, `the port must be an integer from 1 to 65535, got ${bad}`)
      }
      assert.deepStrictEqual(children(), [])
    }))
})
