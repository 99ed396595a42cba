import { completable } from "@modelcontextprotocol/sdk/server/completable.js"
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js"
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js"
import type { JSONRPCMessage, MessageExtraInfo, RequestId } from "@modelcontextprotocol/sdk/types.js"
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
      acquire: (control) =>
        Effect.suspend(() => {
          const opening = ++openings
          return transport.inMemory(() => build(opening), { description }).open(control).pipe(
            Effect.tap(({ transport: client }) => {
              // the `block` calls this connection sends, which `release` lets answer
              const send = client.send.bind(client)
              client.send = (message, sendOptions) => {
                if (
                  "method" in message && message.method === "tools/call" && "id" in message &&
                  blockNames.has(String((message.params as { name?: unknown } | undefined)?.name))
                ) sentBlocks.add(blockKey(opening, message.id))
                return send(message, sendOptions)
              }
            }),
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
  current: { control: McpTransport.Control; transport: FaultyTransport } | undefined
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

/** The error a send fails with when a fault says so; the wrapper's classifier maps it to its reason. */
class InjectedSendFailure extends Error {
  constructor(readonly reason: McpError.TransportCrashedReason) {
    super(`injected: ${reason._tag}`)
  }
}

class FaultyTransport implements Transport {
  onclose?: (() => void) | undefined
  onerror?: ((error: Error) => void) | undefined
  onmessage?: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined
  /** Delayed messages from the server, in their order, with when each is due (Clock milliseconds). */
  private readonly delayed: Array<{ readonly due: number; readonly message: JSONRPCMessage; readonly extra: MessageExtraInfo | undefined }> = []
  private draining = false

  constructor(
    readonly inner: Transport,
    readonly state: FaultState,
    readonly clock: Clock.Clock,
    readonly runFork: (effect: Effect.Effect<void>) => unknown
  ) {}

  /** Hands a message from the server on: an answer is no longer pending then (or dropped, if failed). */
  private hand(message: JSONRPCMessage, extra: MessageExtraInfo | undefined): void {
    if ("id" in message && !("method" in message) && message.id !== undefined) {
      this.state.pending.delete(message.id)
      if (this.state.lost.delete(message.id)) return
    }
    this.onmessage?.(message, extra)
  }

  /** Hands the delayed messages on as they fall due, one fiber for the connection, in their order. */
  private readonly drain: Effect.Effect<void> = Effect.suspend(() => {
    const head = this.delayed[0]
    if (head === undefined) {
      this.draining = false
      return Effect.void
    }
    const wait = head.due - this.clock.unsafeCurrentTimeMillis()
    return (wait > 0 ? Effect.sleep(Duration.millis(wait)) : Effect.void).pipe(
      Effect.zipRight(Effect.suspend(() => {
        const now = this.clock.unsafeCurrentTimeMillis()
        while (this.delayed.length > 0 && this.delayed[0]!.due <= now) {
          const { extra, message } = this.delayed.shift()!
          this.hand(message, extra)
        }
        return this.drain
      }))
    )
  })

  get sessionId() {
    return this.inner.sessionId
  }

  setProtocolVersion(version: string) {
    this.inner.setProtocolVersion?.(version)
  }

  start(): Promise<void> {
    this.inner.onmessage = (message, extra) => {
      if (this.state.dropIncoming > 0) {
        // dropped on the way: an answer stays pending, as the caller sees it
        this.state.dropIncoming--
        return
      }
      const delay = Duration.toMillis(this.state.delay)
      if (delay > 0 || this.delayed.length > 0) {
        // in order: a message never overtakes one delayed before it (nor does a later one, delay or not)
        const now = this.clock.unsafeCurrentTimeMillis()
        this.delayed.push({ due: Math.max(now + delay, this.delayed.at(-1)?.due ?? now), message, extra })
        if (!this.draining) {
          this.draining = true
          this.runFork(this.drain)
        }
        return
      }
      this.hand(message, extra)
    }
    this.inner.onclose = () => this.onclose?.()
    this.inner.onerror = (error) => this.onerror?.(error)
    return this.inner.start()
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if ("id" in message && "method" in message && message.method !== "initialize") {
      const reason = this.state.failSends.shift()
      if (reason !== undefined) return Promise.reject(new InjectedSendFailure(reason))
    }
    this.state.sent.push(message)
    if ("id" in message && "method" in message) this.state.pending.add(message.id)
    if (this.state.blackHole) return Promise.resolve()
    return this.inner.send(message, options)
  }

  close(): Promise<void> {
    return this.inner.close()
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
      acquire: (control) =>
        Effect.gen(function*() {
          state.opens++
          const failure = state.failOpens.shift()
          if (failure !== undefined) {
            return yield* new McpError.TransportCrashed({ reason: failure, transport: inner.description })
          }
          state.pending.clear()
          state.lost.clear()
          const connection = yield* inner.open(control)
          // the delays' fiber belongs to the connection: it ends when the connection's scope closes
          const runFork = yield* FiberSet.makeRuntime<never, void, never>()
          const faultyTransport = new FaultyTransport(connection.transport, state, clock, runFork)
          state.current = { control, transport: faultyTransport }
          const classify = connection.classify
          return {
            transport: faultyTransport,
            classify: (error: unknown, during: "send" | "background") =>
              error instanceof InjectedSendFailure ? error.reason : classify?.(error, during)
          }
        })
    })
    const faults: McpTest.Faults = {
      crash: (reason) => Effect.sync(() => state.current?.control.crash(reason)),
      close: Effect.promise(() => state.current?.transport.inner.close() ?? Promise.resolve()),
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
