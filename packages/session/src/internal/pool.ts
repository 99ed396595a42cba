import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Hash from "effect/Hash"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as RcMap from "effect/RcMap"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { GaveUp } from "../McpError.js"
import * as McpServers from "../McpServers.js"
import * as McpSession from "../McpSession.js"
import type * as Api from "../McpSessionPool.js"
import { McpSessionPool, PoolError } from "../McpSessionPool.js"

type Identity = Api.Identity
type Lease = Api.Lease

/** @internal */
export const IdentityTypeId: Api.IdentityTypeId = Symbol.for("@effect-mcp/session/McpSessionPool/Identity") as Api.IdentityTypeId

class IdentityImpl implements Identity {
  readonly [IdentityTypeId]: Api.IdentityTypeId = IdentityTypeId
  constructor(
    readonly headers: Readonly<Record<string, Redacted.Redacted<string>>>,
    readonly env: Readonly<Record<string, Redacted.Redacted<string>>>,
    readonly subject: string | undefined,
    /** Keyed digest of the credentials; never shown. */
    readonly digest: string
  ) {}
  toString() {
    return "Identity(<redacted>)"
  }
  toJSON() {
    return "Identity(<redacted>)"
  }
  [Inspectable.NodeInspectSymbol]() {
    return "Identity(<redacted>)"
  }
}

/** @internal */
export const isIdentity = (u: unknown): u is Identity => Predicate.hasProperty(u, IdentityTypeId)

const redactAll = (record: Readonly<Record<string, string | Redacted.Redacted<string>>> | undefined) => {
  const out: Record<string, Redacted.Redacted<string>> = {}
  for (const [name, value] of Object.entries(record ?? {})) out[name] = Redacted.isRedacted(value) ? value : Redacted.make(value)
  return out
}

/** Header names are case-insensitive; variables are not. Sorted, so that the order given does not matter. */
const canonical = (headers: Readonly<Record<string, Redacted.Redacted<string>>>, env: Readonly<Record<string, Redacted.Redacted<string>>>, subject: string | undefined) =>
  JSON.stringify([
    Object.entries(headers).map(([k, v]) => [k.toLowerCase(), Redacted.value(v)]).sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0)),
    Object.entries(env).map(([k, v]) => [k, Redacted.value(v)]).sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0)),
    subject ?? null
  ])

const hex = (buffer: ArrayBuffer) => {
  let out = ""
  for (const byte of new Uint8Array(buffer)) out += byte.toString(16).padStart(2, "0")
  return out
}

/** The pool's digest key: random per pool (Web Crypto), so a digest cannot be matched across pools or processes. */
const makeDigester = Effect.promise(async () => {
  const key = await globalThis.crypto.subtle.importKey(
    "raw",
    globalThis.crypto.getRandomValues(new Uint8Array(32)),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"]
  )
  const encoder = new TextEncoder()
  return (text: string) => Effect.promise(() => globalThis.crypto.subtle.sign("HMAC", key, encoder.encode(text)).then(hex))
})

/** A key of the RcMap: equal by server and digest; it carries what building the session needs. */
class PoolKey implements Equal.Equal {
  constructor(readonly server: McpServers.Server, readonly identity: IdentityImpl, readonly id: string) {}
  [Equal.symbol](that: Equal.Equal): boolean {
    return that instanceof PoolKey && that.id === this.id
  }
  [Hash.symbol](): number {
    return Hash.cached(this, Hash.string(this.id))
  }
}

/** The pool's view of one key: how many hold it, since when it is idle, and which RcMap entry is its. */
interface Slot {
  readonly key: PoolKey
  leases: number
  idleSince: number
  /** The RcMap entry built for it, while it is open. */
  entry: object | undefined
}

/** @internal */
export const make = <R = never>(options: Api.McpSessionPool.Options<R>): Effect.Effect<Api.McpSessionPool.Service, never, Scope.Scope | R> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const digest = yield* makeDigester
    const byName = new Map(options.servers.map((server) => [server.name, server]))
    const maxSessions = Math.max(1, options.maxSessions ?? 1000)
    const whenFull = options.whenFull ?? "wait"
    const maxWait = Duration.toMillis(Duration.decode(options.maxWait ?? "30 seconds"))
    const slots = new Map<string, Slot>()
    const keys = new WeakMap<IdentityImpl, Map<string, PoolKey>>()
    // completed (and replaced) whenever a slot is let go or closed: a caller waiting at the bound looks again
    let changed = Deferred.unsafeMake<void>(FiberId.none)
    const signal = () => {
      Deferred.unsafeDone(changed, Exit.void)
      changed = Deferred.unsafeMake<void>(FiberId.none)
    }

    const makeIdentity = (input: Api.McpSessionPool.IdentityInput) =>
      Effect.suspend(() => {
        const headers = redactAll(input.headers)
        const env = redactAll(input.env)
        return Effect.map(digest(canonical(headers, env, input.subject)), (d) => new IdentityImpl(headers, env, input.subject, d))
      })
    const anonymous = yield* makeIdentity({})

    const closeSlot = (slot: Slot, entry: object) =>
      Effect.sync(() => {
        if (slot.entry !== entry) return
        slot.entry = undefined
        if (slots.get(slot.key.id) === slot) slots.delete(slot.key.id)
        signal()
      })

    const map: RcMap.RcMap<PoolKey, Lease, GaveUp> = yield* RcMap.make({
      idleTimeToLive: options.idleTimeToLive ?? "5 minutes",
      lookup: (key: PoolKey) =>
        Effect.gen(function*() {
          const entry = {}
          let slot = slots.get(key.id)
          if (slot === undefined) {
            // its slot was closed meanwhile (an idle timeout at the moment of a get): counted again
            slot = { key, leases: 0, idleSince: 0, entry }
            slots.set(key.id, slot)
          }
          slot.entry = entry
          const owned = slot
          yield* Effect.addFinalizer(() => closeSlot(owned, entry))
          const invalidateOwn = Effect.suspend(() => owned.entry === entry ? RcMap.invalidate(map, key) : Effect.void).pipe(
            Effect.zipRight(closeSlot(owned, entry))
          )
          const server = key.server
          const { lifecycle, session } = yield* McpSession.makeResilient(
            {
              transport: options.transport(server, key.identity),
              clientInfo: options.clientInfo,
              ...(options.capabilities !== undefined ? { capabilities: options.capabilities } : {}),
              ...(options.requestTimeout !== undefined ? { requestTimeout: options.requestTimeout } : {}),
              ...McpServers.sessionOptions(server)
            },
            McpServers.policy(server, options.policy)
          ).pipe(Effect.tapError(() => invalidateOwn))
          // a session that gave up is dropped: whoever holds it sees GaveUp, the next get builds anew
          yield* Effect.forkScoped(Effect.catchAll(session.await, () => invalidateOwn))
          return { server, session, lifecycle }
        })
    })

    const keyOf = (server: McpServers.Server, identity: IdentityImpl): PoolKey => {
      let perIdentity = keys.get(identity)
      if (perIdentity === undefined) {
        perIdentity = new Map()
        keys.set(identity, perIdentity)
      }
      let key = perIdentity.get(server.name)
      if (key === undefined) {
        key = new PoolKey(server, identity, `${server.name}\u0000${identity.digest}`)
        perIdentity.set(server.name, key)
      }
      return key
    }

    /** Takes a lease on the key's slot, making room at the bound: `undefined` when there is none now. */
    const admit = (key: PoolKey): { readonly slot: Slot; readonly evict: PoolKey | undefined } | undefined => {
      const existing = slots.get(key.id)
      if (existing !== undefined) {
        existing.leases++
        return { slot: existing, evict: undefined }
      }
      let evict: PoolKey | undefined
      if (slots.size >= maxSessions) {
        let victim: Slot | undefined
        for (const slot of slots.values()) {
          if (slot.leases === 0 && (victim === undefined || slot.idleSince < victim.idleSince)) victim = slot
        }
        if (victim === undefined) return undefined
        slots.delete(victim.key.id)
        evict = victim.key
      }
      const slot: Slot = { key, leases: 1, idleSince: 0, entry: undefined }
      slots.set(key.id, slot)
      return { slot, evict }
    }

    /**
     * A lease on the key's slot, let go when the scope closes. Only the wait at the bound is interruptible:
     * once admitted, the lease's release is registered before anything else can happen.
     */
    const lease = (key: PoolKey): Effect.Effect<void, PoolError, Scope.Scope> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          const deadline = clock.unsafeCurrentTimeMillis() + maxWait
          const attempt: Effect.Effect<void, PoolError, Scope.Scope> = Effect.suspend(() => {
            const admitted = admit(key)
            if (admitted !== undefined) {
              const registered = Effect.addFinalizer(() => release(admitted.slot))
              return admitted.evict === undefined ? registered : Effect.zipRight(registered, RcMap.invalidate(map, admitted.evict))
            }
            const left = deadline - clock.unsafeCurrentTimeMillis()
            if (whenFull === "fail" || left <= 0) {
              return Effect.fail(
                new PoolError({
                  reason: "Exhausted",
                  server: key.server.name,
                  detail: `${maxSessions} sessions, every one in use${whenFull === "wait" ? `, for ${Duration.format(Duration.millis(maxWait))}` : ""}`
                })
              )
            }
            return restore(Effect.timeoutOption(Deferred.await(changed), Duration.millis(left))).pipe(Effect.zipRight(attempt))
          })
          return attempt
        })
      )

    const release = (slot: Slot) =>
      Effect.sync(() => {
        slot.leases--
        if (slot.leases === 0) {
          slot.idleSince = clock.unsafeCurrentTimeMillis()
          if (slot.entry === undefined && slots.get(slot.key.id) === slot) slots.delete(slot.key.id)
          signal()
        }
      })

    const unknown = (name: string) =>
      new PoolError({ reason: "UnknownServer", server: name, detail: `configured: ${[...byName.keys()].join(", ") || "none"}` })

    const get = (name: string, identity?: Identity): Effect.Effect<Lease, PoolError | GaveUp, Scope.Scope> =>
      Effect.suspend(() => {
        const server = byName.get(name)
        if (server === undefined) return Effect.fail(unknown(name))
        const key = keyOf(server, (identity ?? anonymous) as IdentityImpl)
        return Effect.zipRight(lease(key), RcMap.get(map, key))
      })

    const service: Api.McpSessionPool.Service = {
      servers: options.servers,
      anonymous,
      identity: makeIdentity,
      get,
      use: (name, identity, f) => Effect.scoped(Effect.flatMap(get(name, identity), (lease) => f(lease.session))),
      invalidate: (name, identity) =>
        Effect.suspend(() => {
          const server = byName.get(name)
          if (server === undefined) return Effect.void
          const key = keyOf(server, (identity ?? anonymous) as IdentityImpl)
          const slot = slots.get(key.id)
          if (slot !== undefined && slot.entry !== undefined) {
            return Effect.zipRight(RcMap.invalidate(map, key), closeSlot(slot, slot.entry))
          }
          return RcMap.invalidate(map, key)
        }),
      stats: Effect.sync(() => {
        let inUse = 0
        for (const slot of slots.values()) if (slot.leases > 0) inUse++
        return { sessions: slots.size, inUse, idle: slots.size - inUse }
      })
    }
    return service
  })

/** @internal */
export const layer = <R = never>(options: Api.McpSessionPool.Options<R>): Layer.Layer<McpSessionPool, never, R> =>
  Layer.scoped(McpSessionPool, make(options))
