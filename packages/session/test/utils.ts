import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js"
import type { JSONRPCMessage, ToolAnnotations } from "@modelcontextprotocol/sdk/types.js"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import { assert } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { McpTransport } from "../src/index.js"

/** Lets pending promise callbacks and I/O run (real event-loop turns, no Clock involved). */
export const tick = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/** Waits a real millisecond (for live tests, where real timers must fire). */
export const realTick = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 1)))

/** Polls `effect` until `predicate` holds, for at most `turns` turns of `wait` (event-loop turns by default). */
export const eventually = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  predicate: (a: A) => boolean,
  turns = 1000,
  wait: Effect.Effect<void> = tick
): Effect.Effect<A, E | Error, R> =>
  Effect.gen(function*() {
    for (let i = 0; i < turns; i++) {
      const a = yield* effect
      if (predicate(a)) return a
      yield* wait
    }
    return yield* Effect.fail(new Error(`condition not met within ${turns} turns`))
  })

/** The longest delay `setTimeout` takes (2^31-1 ms): Effect's live Clock never wakes a sleep longer than that. */
export const maxTimerMillis = 2 ** 31 - 1

/**
 * The current Clock's time (a `TestClock`'s in a test), with the live Clock's rule for long sleeps: a sleep
 * above `maxTimerMillis` never ends (Effect's live scheduler treats it as infinite).
 */
export const liveLikeClock: Effect.Effect<Clock.Clock> = Effect.map(Effect.clock, (clock): Clock.Clock => ({
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: () => clock.unsafeCurrentTimeMillis(),
  currentTimeMillis: clock.currentTimeMillis,
  unsafeCurrentTimeNanos: () => clock.unsafeCurrentTimeNanos(),
  currentTimeNanos: clock.currentTimeNanos,
  sleep: (duration) => Duration.toMillis(duration) > maxTimerMillis ? Effect.never : clock.sleep(duration)
}))

type Reply = (message: JSONRPCMessage) => void

/** What the scripted server answers `initialize` with by default. */
export const initializeResult = {
  protocolVersion: LATEST_PROTOCOL_VERSION,
  capabilities: { tools: {}, resources: {}, prompts: {} },
  serverInfo: { name: "scripted", version: "0.0.1" }
}

/**
 * A scripted server: answers `initialize` itself and hands every other message to `handle`, which may
 * reply synchronously (several messages in one tick, as a stdio chunk would carry them).
 */
export const scriptedSdk = (
  handle: (message: JSONRPCMessage & { id?: string | number; method?: string; params?: any }, reply: Reply, hangUp: () => void) => void,
  options?: {
    /** Answers `initialize`; `hangUp` closes the transport from the peer's side (its `onclose`). */
    readonly initialize?: (id: string | number, reply: Reply, hangUp: () => void, params?: any) => void
    /** What the transport's `close` does instead of closing (e.g. reject). */
    readonly close?: () => Promise<void>
    /** A session id the transport has before it starts, as one that resumes a session would. */
    readonly sessionId?: string
    /** Answers `server/discover` with this DiscoverResult (a 2026-07-28 server) instead of -32601. */
    readonly discover?: Record<string, unknown>
  }
) : Transport => {
        const transport: Transport = {
          start: async () => {},
          close: async () => {
            if (options?.close) return options.close()
            transport.onclose?.()
          },
          send: async (message) => {
            const reply: Reply = (m) => transport.onmessage?.(m)
            const msg = message as any
            if (msg.method === "initialize") {
              if (options?.initialize) return options.initialize(msg.id, reply, () => transport.onclose?.(), msg.params)
              return reply({ jsonrpc: "2.0", id: msg.id, result: initializeResult })
            }
            // as a legacy SDK server: it does not know 2026-07-28's probe
            if (msg.method === "server/discover") {
              if (options?.discover !== undefined) return reply({ jsonrpc: "2.0", id: msg.id, result: options.discover } as JSONRPCMessage)
              return reply({ jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: "Method not found" } })
            }
            if (msg.method === "notifications/initialized") return
            handle(msg, reply, () => transport.onclose?.())
          }
        }
        if (options?.sessionId !== undefined) transport.sessionId = options.sessionId
        return transport
}

/** What a scripted 2026-07-28 server answers `server/discover` with. */
export const discoverResult = (capabilities: Record<string, unknown> = { tools: {}, resources: {}, prompts: {} }) => ({
  resultType: "complete",
  supportedVersions: ["2026-07-28"],
  capabilities,
  _meta: { "io.modelcontextprotocol/serverInfo": { name: "scripted-modern", version: "0.0.1" } }
})

/** `scriptedSdk` as a transport. */
export const scripted = (
  handle: Parameters<typeof scriptedSdk>[0],
  options?: Parameters<typeof scriptedSdk>[1]
): McpTransport.McpTransport =>
  McpTransport.fromSdk({ description: "scripted", acquire: Effect.sync(() => scriptedSdk(handle, options)) })

export type Msg = JSONRPCMessage & { id?: string | number; method?: string; params?: any; result?: any; error?: any }

/** A scripted server (2026-07-28 with `modern`) whose test drives it: what the client sent, and a way to send to the client. */
export const peer = (options?: {
  readonly answer?: (msg: Msg, send: (m: unknown) => void) => void
  readonly modern?: boolean
  readonly capabilities?: Record<string, unknown>
}) => {
  const received: Array<Msg> = []
  let toClient: ((m: JSONRPCMessage) => void) | undefined
  let hangUp: (() => void) | undefined
  const send = (m: unknown) => toClient!(m as JSONRPCMessage)
  const transport = scripted((msg, reply, close) => {
    toClient = reply
    hangUp = close
    received.push(msg)
    if (msg.method === "ping") return reply({ jsonrpc: "2.0", id: msg.id!, result: {} })
    options?.answer?.(msg, send)
  }, {
    initialize: (id, reply, close, params) => {
      toClient = reply
      hangUp = close
      received.push({ jsonrpc: "2.0", id, method: "initialize", params } as Msg)
      reply({ jsonrpc: "2.0", id, result: { ...initializeResult, capabilities: options?.capabilities ?? initializeResult.capabilities } } as JSONRPCMessage)
    },
    ...(options?.modern === true ? { discover: discoverResult(options.capabilities) } : {})
  })
  return {
    transport,
    received,
    send,
    hangUp: () => hangUp!(),
    /** The client's answer to the server's request `id`. */
    answerTo: (id: string | number) =>
      Effect.map(eventually(Effect.sync(() => received.find((m) => m.id === id && m.method === undefined)), (m) => m !== undefined), (m) => m!)
  }
}

/** The typed failure of an exit, asserting there is one. */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const failure = Cause.failureOption((exit as Exit.Failure<A, E>).cause)
  assert.isTrue(Option.isSome(failure), `expected a typed failure, got ${Cause.pretty((exit as Exit.Failure<A, E>).cause)}`)
  return (failure as Option.Some<E>).value
}

/** A full garbage collection, whether or not Node runs with `--expose-gc`. */
export const gc: () => void = (globalThis as { gc?: () => void }).gc ?? (() => {
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
})()

/**
 * `transport`, counting the connections it opens and those the garbage collector has reclaimed: how leak
 * tests see what a session keeps reachable.
 */
export const tracking = <R>(transport: McpTransport.McpTransport<R>) => {
  let opened = 0
  let collected = 0
  const registry = new FinalizationRegistry<void>(() => void collected++)
  return {
    transport: McpTransport.make<R>({
      description: transport.description,
      open: (control) =>
        Effect.tap(transport.open(control), (connection) =>
          Effect.sync(() => {
            opened++
            registry.register(connection, undefined)
          }))
    }),
    opened: () => opened,
    /** How many are still reachable, after forced collections until at most `expected` are (bounded). */
    reachable: (expected: number) =>
      Effect.gen(function*() {
        // finalizers run in tasks of their own after a collection
        for (let round = 0; round < 20 && opened - collected > expected; round++) {
          gc()
          yield* Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 1)))
        }
        return opened - collected
      })
  }
}

/**
 * The process's unhandled rejections while the current scope is open: a listener added now, removed when the
 * scope closes. Node reports one once the microtasks have run, so read the array after a real wait.
 */
export const unhandledRejections: Effect.Effect<ReadonlyArray<unknown>, never, Scope.Scope> = Effect.suspend(() => {
  const unhandled: Array<unknown> = []
  const onUnhandled = (reason: unknown) => void unhandled.push(reason)
  return Effect.as(
    Effect.acquireRelease(
      Effect.sync(() => process.on("unhandledRejection", onUnhandled)),
      () => Effect.sync(() => process.off("unhandledRejection", onUnhandled))
    ),
    unhandled
  )
})

/**
 * An in-memory server whose tools can change while it runs: each opening serves the current list, every tool
 * answers `<server>:<tool>`, with `annotations` if given.
 */
export const dynamic = (
  name: string,
  initial: ReadonlyArray<string>,
  options?: { readonly annotations?: ToolAnnotations | undefined }
) => {
  const tools = new Set(initial)
  const live: Array<McpServer> = []
  const register = (server: McpServer, tool: string) =>
    server.registerTool(
      tool,
      { description: `${name}'s ${tool}`, ...(options?.annotations !== undefined ? { annotations: options.annotations } : {}) },
      async () => ({ content: [{ type: "text", text: `${name}:${tool}` }] })
    )
  const transport = McpTransport.inMemory(() => {
    const server = new McpServer({ name, version: "1.0.0" })
    for (const tool of tools) register(server, tool)
    live.push(server)
    return server
  }, { description: name })
  return {
    transport,
    /** Adds a tool to the running servers (which say so with list_changed) and to the next ones. */
    add: (tool: string) =>
      Effect.sync(() => {
        tools.add(tool)
        for (const server of live) if (server.isConnected()) register(server, tool)
      }),
    /** Changes the tools of the next openings only. */
    setNext: (next: ReadonlyArray<string>) =>
      Effect.sync(() => {
        tools.clear()
        for (const tool of next) tools.add(tool)
      })
  }
}
