import { completable } from "@modelcontextprotocol/sdk/server/completable.js"
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js"
import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import { z } from "zod"
import * as McpError from "../McpError.js"
import type * as McpTest from "../McpTest.js"
import type { McpTransport } from "../McpTransport.js"
import * as transport from "./transport.js"

/** @internal */
export const makeServer = (options?: McpTest.ServerOptions): Effect.Effect<McpTest.TestServer> =>
  Effect.sync(() => {
    const executions = new Map<string, number>()
    const cancellations: Array<McpTest.Cancellation> = []
    const metas: Array<Record<string, unknown> | undefined> = []
    let opened = 0
    let openings = 0
    let live = 0
    let gate: { promise: Promise<void>; open: () => void } = makeGate()
    const count = (name: string) => executions.set(name, (executions.get(name) ?? 0) + 1)
    // `block` calls by opening and request id: sent by a client and not yet released, and released
    const blockNames = new Set(["block", "block-readonly"])
    const blockKey = (opening: number, id: RequestId) => `${opening}:${typeof id}:${String(id)}`
    const sentBlocks = new Set<string>()
    const released = new Set<string>()

    const build = (opening: number): McpServer => {
      opened++
      const server = new McpServer(
        { name: options?.name ?? "effect-mcp-test", version: "1.0.0" },
        {
          capabilities: { logging: {}, completions: {} },
          ...(options?.instructions !== undefined ? { instructions: options.instructions } : {})
        }
      )
      server.registerTool("echo", {
        description: "Echoes the message",
        inputSchema: { message: z.string() },
        annotations: { readOnlyHint: true }
      }, async ({ message }, extra) => {
        count("echo")
        metas.push(extra._meta as Record<string, unknown> | undefined)
        return { content: [{ type: "text", text: `Echo: ${message}` }] }
      })
      server.registerTool("add", {
        description: "Adds two numbers",
        inputSchema: { a: z.number(), b: z.number() },
        outputSchema: { sum: z.number() },
        annotations: { readOnlyHint: true }
      }, async ({ a, b }) => {
        count("add")
        return { content: [{ type: "text", text: String(a + b) }], structuredContent: { sum: a + b } }
      })
      server.registerTool("increment", {
        description: "Increments a counter: not idempotent",
        annotations: { readOnlyHint: false, idempotentHint: false }
      }, async () => {
        count("increment")
        return { content: [{ type: "text", text: String(executions.get("increment")) }] }
      })
      server.registerTool("set", {
        description: "Sets a value: idempotent",
        inputSchema: { value: z.string() },
        annotations: { readOnlyHint: false, idempotentHint: true }
      }, async ({ value }) => {
        count("set")
        return { content: [{ type: "text", text: value }] }
      })
      server.registerTool("progress", {
        description: "Reports `steps` progress notifications, then answers",
        inputSchema: { steps: z.number().int().min(0) }
      }, async ({ steps }, extra) => {
        count("progress")
        const token = extra._meta?.progressToken
        if (token !== undefined) {
          for (let i = 1; i <= steps; i++) {
            await extra.sendNotification({
              method: "notifications/progress",
              params: { progressToken: token, progress: i, total: steps, message: `step ${i}` }
            })
          }
        }
        return { content: [{ type: "text", text: `done ${steps}` }] }
      })
      const block = (name: string) => async (extra: { requestId: RequestId; signal: AbortSignal }) => {
        count(name)
        const key = blockKey(opening, extra.requestId)
        await new Promise<void>((resolve) => {
          const onAbort = () => {
            cancellations.push({ requestId: extra.requestId, reason: String(extra.signal.reason ?? "") })
            resolve()
          }
          if (extra.signal.aborted) return onAbort()
          extra.signal.addEventListener("abort", onAbort, { once: true })
          // released once `release` ran after the call was sent, even if it ran before this handler did
          const wait = (): void => {
            if (released.delete(key)) return resolve()
            void gate.promise.then(wait)
          }
          wait()
        })
        return { content: [{ type: "text" as const, text: "released" }] }
      }
      server.registerTool("block", {
        description: "Never answers on its own: waits for `release` or for cancellation"
      }, block("block"))
      server.registerTool("block-readonly", {
        description: "Like `block`, annotated read-only",
        annotations: { readOnlyHint: true }
      }, block("block-readonly"))
      server.registerTool("fail", {
        description: "Reports a tool error",
        inputSchema: { message: z.string() }
      }, async ({ message }) => {
        count("fail")
        return { content: [{ type: "text", text: message }], isError: true }
      })
      server.registerTool("log", {
        description: "Sends a logging notification",
        inputSchema: { message: z.string() }
      }, async ({ message }, extra) => {
        count("log")
        await extra.sendNotification({
          method: "notifications/message",
          params: { level: "info", logger: "test", data: message }
        })
        return { content: [{ type: "text", text: "logged" }] }
      })
      server.registerResource("static", "test://static", { mimeType: "text/plain" }, async (uri) => ({
        contents: [{ uri: uri.href, mimeType: "text/plain", text: "static content" }]
      }))
      server.registerResource(
        "item",
        new ResourceTemplate("test://items/{id}", { list: undefined }),
        { mimeType: "text/plain" },
        async (uri, { id }) => ({ contents: [{ uri: uri.href, text: `item ${String(id)}` }] })
      )
      server.registerPrompt("greet", {
        description: "Greets someone",
        argsSchema: { name: completable(z.string(), (value) => ["Ada", "Alan", "Grace"].filter((n) => n.startsWith(value))) }
      }, ({ name }) => ({
        messages: [{ role: "user", content: { type: "text", text: `Hello, ${name}!` } }]
      }))
      for (let i = 0; i < (options?.extraTools ?? 0); i++) {
        server.registerTool(`extra-${i}`, { description: `extra tool ${i}` }, async () => ({ content: [] }))
      }
      return server
    }

    const description = options?.name ?? "in-memory test server"
    const testTransport = transport.make<never>({
      description,
      open: (control) =>
        Effect.suspend(() => {
          const opening = ++openings
          return transport.inMemory(() => build(opening), { description }).open(control).pipe(
            Effect.map((connection): McpTransport.Connection => ({
              ...connection,
              // the `block` calls this connection sends, which `release` lets answer
              send: (message) =>
                Effect.suspend(() => {
                  if (
                    "method" in message && message.method === "tools/call" && "id" in message &&
                    blockNames.has(String((message.params as { name?: unknown } | undefined)?.name))
                  ) sentBlocks.add(blockKey(opening, message.id))
                  return connection.send(message)
                })
            })),
            Effect.tap(() => Effect.acquireRelease(Effect.sync(() => live++), () => Effect.sync(() => live--)))
          )
        })
    })

    const server: McpTest.TestServer = {
      transport: testTransport,
      executions: (tool) => Effect.sync(() => executions.get(tool) ?? 0),
      cancellations: Effect.sync(() => cancellations.slice()),
      metas: Effect.sync(() => metas.slice()),
      opened: Effect.sync(() => opened),
      live: Effect.sync(() => live),
      release: Effect.sync(() => {
        for (const key of sentBlocks) released.add(key)
        sentBlocks.clear()
        gate.open()
        gate = makeGate()
      })
    }
    return server
  })

const makeGate = () => {
  let open!: () => void
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

// ---------------------------------------------------------------------------------------------------------
// Fault injection
// ---------------------------------------------------------------------------------------------------------

interface FaultState {
  opens: number
  failOpens: Array<McpError.TransportCrashedReason>
  current: { control: McpTransport.Control } | undefined
  blackHole: boolean
  dropIncoming: number
  delay: Duration.Duration
  sent: Array<JSONRPCMessage>
  failSends: Array<McpError.TransportCrashedReason>
  /** Requests sent and not answered yet, by id. */
  pending: Set<RequestId>
  /** Requests failed by `failPending`: their answers, if they come, are dropped. */
  lost: Set<RequestId>
}

/** A connection with faults injected between it and the session. */
const faultyConnection = (
  connection: McpTransport.Connection,
  control: McpTransport.Control,
  state: FaultState,
  clock: Clock.Clock,
  runFork: (effect: Effect.Effect<void>) => unknown
): { readonly connection: McpTransport.Connection; readonly receive: (message: unknown) => void } => {
  /** Delayed messages from the server, in their order, with when each is due (Clock milliseconds). */
  const delayed: Array<{ readonly due: number; readonly message: unknown }> = []
  let draining = false

  /** Hands a message from the server on: an answer is no longer pending then (or dropped, if failed). */
  const hand = (message: unknown): void => {
    const m = message as { id?: RequestId; method?: unknown }
    if (typeof m === "object" && m !== null && m.id !== undefined && m.method === undefined) {
      state.pending.delete(m.id)
      if (state.lost.delete(m.id)) return
    }
    control.receive(message)
  }

  /** Hands the delayed messages on as they fall due, one fiber for the connection, in their order. */
  const drain: Effect.Effect<void> = Effect.suspend(() => {
    const head = delayed[0]
    if (head === undefined) {
      draining = false
      return Effect.void
    }
    const wait = head.due - clock.unsafeCurrentTimeMillis()
    return (wait > 0 ? Effect.sleep(Duration.millis(wait)) : Effect.void).pipe(
      Effect.zipRight(Effect.suspend(() => {
        const now = clock.unsafeCurrentTimeMillis()
        while (delayed.length > 0 && delayed[0]!.due <= now) hand(delayed.shift()!.message)
        return drain
      }))
    )
  })

  const receive = (message: unknown): void => {
    if (state.dropIncoming > 0) {
      // dropped on the way: an answer stays pending, as the caller sees it
      state.dropIncoming--
      return
    }
    const delay = Duration.toMillis(state.delay)
    if (delay > 0 || delayed.length > 0) {
      // in order: a message never overtakes one delayed before it (nor does a later one, delay or not)
      const now = clock.unsafeCurrentTimeMillis()
      delayed.push({ due: Math.max(now + delay, delayed.at(-1)?.due ?? now), message })
      if (!draining) {
        draining = true
        runFork(drain)
      }
      return
    }
    hand(message)
  }

  return {
    receive,
    connection: {
      ...connection,
      send: (message: JSONRPCMessage) =>
        Effect.suspend(() => {
          if ("id" in message && "method" in message && message.method !== "initialize" && message.method !== "server/discover") {
            const reason = state.failSends.shift()
            if (reason !== undefined) {
              // as a transport whose send failed: what it carried fails with the reason, then the transport
              control.failRequests([message.id], reason)
              control.crash(reason)
              return Effect.void
            }
          }
          state.sent.push(message)
          if ("id" in message && "method" in message) state.pending.add(message.id)
          if (state.blackHole) return Effect.void
          return connection.send(message)
        })
    }
  }
}
/** @internal */
export const faulty = <R>(
  inner: McpTransport<R>
): Effect.Effect<{ readonly transport: McpTransport<R>; readonly faults: McpTest.Faults }> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const state: FaultState = {
      opens: 0,
      failOpens: [],
      current: undefined,
      blackHole: false,
      dropIncoming: 0,
      delay: Duration.zero,
      sent: [],
      failSends: [],
      pending: new Set(),
      lost: new Set()
    }
    const wrapped = transport.make<R>({
      description: inner.description,
      open: (control) =>
        Effect.gen(function*() {
          state.opens++
          const failure = state.failOpens.shift()
          if (failure !== undefined) {
            return yield* new McpError.TransportCrashed({ reason: failure, transport: inner.description })
          }
          state.pending.clear()
          state.lost.clear()
          // the delays' fiber belongs to the connection: it ends when the connection's scope closes
          const runFork = yield* FiberSet.makeRuntime<never, void, never>()
          let receive: (message: unknown) => void = () => {}
          const connection = yield* inner.open({ ...control, receive: (message) => receive(message) })
          const faulty = faultyConnection(connection, control, state, clock, runFork)
          receive = faulty.receive
          state.current = { control }
          return faulty.connection
        })
    })
    const faults: McpTest.Faults = {
      crash: (reason) => Effect.sync(() => state.current?.control.crash(reason)),
      close: Effect.sync(() => state.current?.control.crash(new McpError.Closed({ detail: "closed by the transport" }))),
      failNextOpens: (...reasons) => Effect.sync(() => void state.failOpens.push(...reasons)),
      failNextSends: (...reasons) => Effect.sync(() => void state.failSends.push(...reasons)),
      failPending: (reason) =>
        Effect.sync(() => {
          const ids = [...state.pending]
          state.pending.clear()
          for (const id of ids) state.lost.add(id)
          state.current?.control.failRequests(ids, reason)
        }),
      blackHole: (on) => Effect.sync(() => void (state.blackHole = on)),
      dropIncoming: (count) => Effect.sync(() => void (state.dropIncoming = count)),
      delayIncoming: (delay) => Effect.sync(() => void (state.delay = Duration.decode(delay))),
      opens: Effect.sync(() => state.opens),
      sent: Effect.sync(() => state.sent.slice())
    }
    return { transport: wrapped, faults }
  })
