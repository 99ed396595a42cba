import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Schedule from "effect/Schedule"
import { McpSession, McpSessionPolicy, McpTransport } from "../src/index.js"
import { eventually, failureOf, peer } from "./utils.js"

const clientInfo = { name: "subscribe-test", version: "0.0.0" }

const updated = (uri: string) => ({ jsonrpc: "2.0", method: "notifications/resources/updated", params: { uri } })

describe("McpSession.subscribe", () => {
  it.scoped("2025-11-25: resources/subscribe, the updates of that resource only, resources/unsubscribe when the stream ends", () =>
    Effect.gen(function*() {
      const server = peer({
        answer: (msg, send) => {
          if (msg.method === "resources/subscribe" || msg.method === "resources/unsubscribe") send({ jsonrpc: "2.0", id: msg.id, result: {} })
        }
      })
      const session = yield* McpSession.make({ transport: server.transport, clientInfo })
      const fiber = yield* session.subscribe("file:///a").pipe(Stream.take(2), Stream.runCollect, Effect.fork)
      const sub = yield* eventually(Effect.sync(() => server.received.find((m) => m.method === "resources/subscribe")), (m) => m !== undefined)
      assert.deepStrictEqual(sub!.params, { uri: "file:///a" })
      server.send(updated("file:///b"))
      server.send(updated("file:///a"))
      server.send(updated("file:///a"))
      const events = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.deepStrictEqual(events.map((e) => e._tag === "Updated" ? e.uri : e._tag), ["file:///a", "file:///a"])
      const unsub = yield* eventually(Effect.sync(() => server.received.find((m) => m.method === "resources/unsubscribe")), (m) => m !== undefined)
      assert.deepStrictEqual(unsub!.params, { uri: "file:///a" })
    }))

  it.scoped("2025-11-25: a refused subscribe fails the stream; the transport's death fails it with TransportCrashed", () =>
    Effect.gen(function*() {
      const server = peer({
        answer: (msg, send) => {
          if (msg.method !== "resources/subscribe") return
          send(
            msg.params.uri === "file:///no"
              ? { jsonrpc: "2.0", id: msg.id, error: { code: -32602, message: "no such resource" } }
              : { jsonrpc: "2.0", id: msg.id, result: {} }
          )
        }
      })
      const session = yield* McpSession.make({ transport: server.transport, clientInfo })
      const refused = failureOf(yield* Effect.exit(Stream.runDrain(session.subscribe("file:///no"))))
      assert.strictEqual(refused._tag, "ProtocolError")
      const fiber = yield* Effect.fork(Stream.runDrain(session.subscribe("file:///a")))
      yield* eventually(Effect.sync(() => server.received.filter((m) => m.method === "resources/subscribe").length), (n) => n === 2)
      server.hangUp()
      assert.strictEqual(failureOf(yield* Fiber.await(fiber))._tag, "TransportCrashed")
    }))

  it.scoped("2026-07-28: subscriptions/listen held open; acknowledged, then the updates; the stream's end cancels it", () =>
    Effect.gen(function*() {
      const server = peer({
        modern: true,
        answer: (msg, send) => {
          if (msg.method === "subscriptions/listen") {
            send({
              jsonrpc: "2.0",
              method: "notifications/subscriptions/acknowledged",
              params: { notifications: msg.params.notifications, _meta: { "io.modelcontextprotocol/subscriptionId": msg.id } }
            })
          }
        }
      })
      const session = yield* McpSession.make({ transport: server.transport, clientInfo })
      const fiber = yield* session.subscribe("file:///a").pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      const listen = yield* eventually(Effect.sync(() => server.received.find((m) => m.method === "subscriptions/listen")), (m) => m !== undefined)
      assert.deepStrictEqual(listen!.params.notifications, { resourceSubscriptions: ["file:///a"] })
      assert.strictEqual(listen!.params._meta["io.modelcontextprotocol/protocolVersion"], "2026-07-28")
      // after the acknowledgement: the updates
      yield* eventually(Effect.sync(() => fiber.unsafePoll()), () => true)
      server.send(updated("file:///a"))
      const events = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.strictEqual(events[0]?._tag, "Updated")
      const cancelled = yield* eventually(Effect.sync(() => server.received.find((m) => m.method === "notifications/cancelled")), (m) => m !== undefined)
      assert.strictEqual(cancelled!.params.requestId, listen!.id)
    }))

  it.scoped("2026-07-28: the server's result ends the stream; its error fails it", () =>
    Effect.gen(function*() {
      const server = peer({
        modern: true,
        answer: (msg, send) => {
          if (msg.method !== "subscriptions/listen") return
          const uri = msg.params.notifications.resourceSubscriptions[0]
          if (uri === "file:///no") return send({ jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: "Method not found" } })
          send({ jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: { notifications: msg.params.notifications } })
          send(updated(uri))
          send({ jsonrpc: "2.0", id: msg.id, result: { resultType: "complete" } })
        }
      })
      const session = yield* McpSession.make({ transport: server.transport, clientInfo })
      const refused = failureOf(yield* Effect.exit(Stream.runDrain(session.subscribe("file:///no"))))
      assert.strictEqual(refused._tag, "ProtocolError")
      // ends (no take): the server's result
      const events = yield* Stream.runCollect(session.subscribe("file:///a"))
      assert.isAtMost(Chunk.size(events), 1)
    }))

  it.scoped("a resilient session subscribes again on the next generation, with Resubscribed in between", () =>
    Effect.gen(function*() {
      const servers: Array<ReturnType<typeof peer>> = []
      const answer = (msg: { method?: string; id?: string | number }, send: (m: unknown) => void) => {
        if (msg.method === "resources/subscribe" || msg.method === "resources/unsubscribe") send({ jsonrpc: "2.0", id: msg.id, result: {} })
      }
      const { session } = yield* McpSession.makeResilient(
        {
          transport: McpTransport.make({
            description: "scripted",
            open: (control) =>
              Effect.suspend(() => {
                const server = peer({ answer })
                servers.push(server)
                return server.transport.open(control)
              })
          }),
          clientInfo
        },
        McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.recurs(5) })
      )
      const fiber = yield* session.subscribe("file:///a").pipe(Stream.take(3), Stream.runCollect, Effect.fork)
      const subscribed = (i: number) => servers[i]?.received.some((m) => m.method === "resources/subscribe") === true
      yield* eventually(Effect.sync(() => subscribed(0)), (s) => s)
      servers[0]!.send(updated("file:///a"))
      servers[0]!.hangUp()
      yield* eventually(Effect.sync(() => subscribed(1)), (s) => s)
      servers[1]!.send(updated("file:///a"))
      const events = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.deepStrictEqual(events.map((e) => e._tag), ["Updated", "Resubscribed", "Updated"])
      assert.strictEqual((events[1] as { generation: number }).generation, 2)
    }))
})

describe("McpSession.listChanged", () => {
  const changed = (kind: string) => ({ jsonrpc: "2.0", method: `notifications/${kind}/list_changed` })

  it.scopedLive("2025-11-25: the server's list_changed of that kind, as it comes, with no request", () =>
    Effect.gen(function*() {
      const server = peer()
      const session = yield* McpSession.make({ transport: server.transport, clientInfo })
      const events: Array<McpSession.ListChangedEvent> = []
      yield* session.listChanged("tools").pipe(Stream.runForEach((e) => Effect.sync(() => void events.push(e))), Effect.forkScoped)
      // the stream subscribes as it starts: the server says it until it is heard
      yield* eventually(Effect.sync(() => {
        server.send(changed("prompts"))
        server.send(changed("tools"))
        return events.length
      }), (n) => n >= 2)
      assert.isTrue(events.every((e) => e._tag === "Changed" && e.kind === "tools"))
      assert.isFalse(server.received.some((m) => m.method === "subscriptions/listen"))
    }))

  it.scoped("2026-07-28: subscriptions/listen for that kind, acknowledged, then its changes; the stream's end cancels it", () =>
    Effect.gen(function*() {
      const server = peer({
        modern: true,
        answer: (msg, send) => {
          if (msg.method === "subscriptions/listen") {
            send({ jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: { notifications: msg.params.notifications } })
          }
        }
      })
      const session = yield* McpSession.make({ transport: server.transport, clientInfo })
      const fiber = yield* session.listChanged("prompts").pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      const listen = yield* eventually(Effect.sync(() => server.received.find((m) => m.method === "subscriptions/listen")), (m) => m !== undefined)
      assert.deepStrictEqual(listen!.params.notifications, { promptsListChanged: true })
      yield* eventually(Effect.sync(() => fiber.unsafePoll()), () => true)
      server.send(changed("prompts"))
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(fiber)), [{ _tag: "Changed", kind: "prompts" }])
      const cancelled = yield* eventually(Effect.sync(() => server.received.find((m) => m.method === "notifications/cancelled")), (m) => m !== undefined)
      assert.strictEqual(cancelled!.params.requestId, listen!.id)
    }))

  it.scopedLive("a resilient session listens again on the next generation, with Resubscribed in between", () =>
    Effect.gen(function*() {
      const servers: Array<ReturnType<typeof peer>> = []
      const { session } = yield* McpSession.makeResilient(
        {
          transport: McpTransport.make({
            description: "scripted",
            open: (control) =>
              Effect.suspend(() => {
                const server = peer()
                servers.push(server)
                return server.transport.open(control)
              })
          }),
          clientInfo
        },
        McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.recurs(5) })
      )
      const events: Array<McpSession.ListChangedEvent> = []
      yield* session.listChanged("resources").pipe(Stream.runForEach((e) => Effect.sync(() => void events.push(e))), Effect.forkScoped)
      yield* eventually(Effect.sync(() => {
        servers[0]!.send(changed("resources"))
        return events.length
      }), (n) => n >= 1)
      servers[0]!.hangUp()
      yield* eventually(Effect.sync(() => events.some((e) => e._tag === "Resubscribed")), (b) => b)
      yield* eventually(Effect.sync(() => {
        servers[1]!.send(changed("resources"))
        return events.at(-1)?._tag
      }), (tag) => tag === "Changed")
      const seen = [...new Set(events.map((e) => e._tag))]
      assert.deepStrictEqual(seen, ["Changed", "Resubscribed"])
      const resubscribed = events.findIndex((e) => e._tag === "Resubscribed")
      assert.isTrue(events.slice(resubscribed + 1).some((e) => e._tag === "Changed"))
      assert.strictEqual((events[resubscribed] as { generation: number }).generation, 2)
    }))
})
