import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { EverythingServer } from "../src/index.js"

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
  }
})
