import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Hash from "effect/Hash"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as RcMap from "effect/RcMap"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
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
  /** Keyed digest of the credentials; not enumerable, never shown. */
  declare readonly digest: string
  constructor(
    readonly headers: Readonly<Record<string, Redacted.Redacted<string>>>,
    readonly env: Readonly<Record<string, Redacted.Redacted<string>>>,
    readonly subject: string | undefined,
    digest: string
  ) {
    Object.defineProperty(this, "digest", { value: digest, enumerable: false })
  }
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
  // the id holds the digest: a key that ends up in a log or a defect shows its server only
  toString() {
    return `PoolKey(${this.server.name})`
  }
  toJSON() {
    return this.toString()
  }
  [Inspectable.NodeInspectSymbol]() {
    return this.toString()
  }
}

/**
 * One key's session as the pool holds it: one RcMap reference for as long as the slot is open, and the
 * pool's own count of its holders. A holder with the session built takes and lets go of it without a
 * scope or an RcMap lookup: the slot's reference keeps the session open meanwhile.
 */
interface Slot {
  readonly key: PoolKey
  leases: number
  idleSince: number
  /** Completed once the session is built, or could not be. */
  readonly ready: Deferred.Deferred<Lease, GaveUp>
  lease: Lease | undefined
  /** Holds the slot's RcMap reference; closed with the slot. */
  scope: Scope.CloseableScope | undefined
  /** No longer in `slots`: closed as its last holder lets go. */
  closing: boolean
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
    const idleMillis = Duration.toMillis(Duration.decode(options.idleTimeToLive ?? "5 minutes"))
    const slots = new Map<string, Slot>()
    const keys = new WeakMap<IdentityImpl, Map<string, PoolKey>>()
    // runs the builds and the idle sweep as fibers of the pool's scope, with the pool's Clock
    const runFork = yield* FiberSet.makeRuntime<never, unknown, never>()
    // completed (and replaced) whenever a slot is let go or closed: a caller waiting at the bound looks again
    let changed = Deferred.unsafeMake<void>(FiberId.none)
    let waiting = 0
    const signal = () => {
      if (waiting === 0) return
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

    // the sessions: built once per key, closed when the slot that holds the key's reference lets it go
    const map: RcMap.RcMap<PoolKey, Lease, GaveUp> = yield* RcMap.make({
      lookup: (key: PoolKey) =>
        Effect.gen(function*() {
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
          )
          // a session that gave up is dropped: whoever holds it sees GaveUp, the next use builds anew
          // (closed from a fiber of the pool's: closing it from this fiber would wait on itself)
          yield* Effect.forkScoped(Effect.catchAll(session.await, () =>
            Effect.sync(() => {
              const slot = slots.get(key.id)
              if (slot !== undefined && slot.lease?.session === session) runFork(closeSlot(slot))
            })))
          return { server, session, lifecycle }
        })
    })

    /** Closes the slot's scope, which lets go of its RcMap reference: the session closes. */
    const closeScope = (slot: Slot) =>
      Effect.suspend(() => {
        const scope = slot.scope
        slot.scope = undefined
        slot.lease = undefined
        return scope === undefined ? Effect.void : Scope.close(scope, Exit.void)
      })

    /** Out of `slots` and of the RcMap at once (so the next use builds anew); closed now if nobody holds it. */
    const closeSlot = (slot: Slot): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (slot.closing) return Effect.void
        slot.closing = true
        if (slots.get(slot.key.id) === slot) slots.delete(slot.key.id)
        signal()
        return Effect.zipRight(RcMap.invalidate(map, slot.key), slot.leases === 0 ? closeScope(slot) : Effect.void)
      })

    const build = (slot: Slot) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        slot.scope = scope
        const exit = yield* Effect.exit(Scope.extend(RcMap.get(map, slot.key), scope))
        if (Exit.isSuccess(exit) && !slot.closing) slot.lease = exit.value
        yield* Deferred.done(slot.ready, exit)
        if (Exit.isFailure(exit)) yield* closeSlot(slot)
        else if (slot.closing && slot.leases === 0) yield* closeScope(slot)
      })

    // ---------------------------------------------------------------------------------------------------
    // Idle time to live: one sweep fiber at a time, sleeping until the earliest expiry
    // ---------------------------------------------------------------------------------------------------

    let sweeping = false
    const sweep: Effect.Effect<void> = Effect.suspend(() => {
      const now = clock.unsafeCurrentTimeMillis()
      let next = Infinity
      const expired: Array<Slot> = []
      for (const slot of slots.values()) {
        if (slot.leases > 0 || slot.lease === undefined) continue
        const at = slot.idleSince + idleMillis
        if (at <= now) expired.push(slot)
        else next = Math.min(next, at)
      }
      const closing = Effect.forEach(expired, closeSlot, { discard: true })
      if (next === Infinity) {
        sweeping = false
        return closing
      }
      return closing.pipe(Effect.zipRight(Effect.sleep(Duration.millis(next - now))), Effect.zipRight(sweep))
    })

    /** Lets go of a lease: synchronous unless the slot was closed meanwhile and this was its last holder. */
    const release = (slot: Slot): Effect.Effect<void> => {
      slot.leases--
      if (slot.leases > 0) return Effect.void
      slot.idleSince = clock.unsafeCurrentTimeMillis()
      signal()
      if (slot.closing) return closeScope(slot)
      if (!sweeping && Number.isFinite(idleMillis)) {
        sweeping = true
        runFork(sweep)
      }
      return Effect.void
    }

    // ---------------------------------------------------------------------------------------------------
    // Admission at the bound
    // ---------------------------------------------------------------------------------------------------

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

    /**
     * Takes a lease on the key's slot, making one (and room for it at the bound) if there is none:
     * `undefined` when the pool is full of held sessions.
     */
    const admit = (key: PoolKey): { readonly slot: Slot; readonly fresh: boolean; readonly evict: Slot | undefined } | undefined => {
      const existing = slots.get(key.id)
      if (existing !== undefined) {
        existing.leases++
        return { slot: existing, fresh: false, evict: undefined }
      }
      let evict: Slot | undefined
      if (slots.size >= maxSessions) {
        for (const slot of slots.values()) {
          if (slot.leases === 0 && slot.lease !== undefined && (evict === undefined || slot.idleSince < evict.idleSince)) {
            evict = slot
          }
        }
        if (evict === undefined) return undefined
        slots.delete(evict.key.id)
      }
      const slot: Slot = {
        key,
        leases: 1,
        idleSince: 0,
        ready: Deferred.unsafeMake(FiberId.none),
        lease: undefined,
        scope: undefined,
        closing: false
      }
      slots.set(key.id, slot)
      return { slot, fresh: true, evict }
    }

    const exhausted = (key: PoolKey) =>
      new PoolError({
        reason: "Exhausted",
        server: key.server.name,
        detail: `${maxSessions} sessions, every one in use${whenFull === "wait" ? `, for ${Duration.format(Duration.millis(maxWait))}` : ""}`
      })

    /**
     * A lease on the key's slot, waiting at the bound if the pool says so. Run uninterruptibly, with only
     * the waits restored: the lease is the caller's to let go once this succeeds.
     */
    const acquire = (key: PoolKey, restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) => {
      const deadline = clock.unsafeCurrentTimeMillis() + maxWait
      const attempt: Effect.Effect<Slot, PoolError> = Effect.suspend(() => {
        const admitted = admit(key)
        if (admitted !== undefined) {
          if (admitted.evict !== undefined) runFork(closeSlot(admitted.evict))
          if (admitted.fresh) runFork(build(admitted.slot))
          return Effect.succeed(admitted.slot)
        }
        const left = deadline - clock.unsafeCurrentTimeMillis()
        if (whenFull === "fail" || left <= 0) return Effect.fail(exhausted(key))
        waiting++
        return restore(Effect.timeoutOption(Deferred.await(changed), Duration.millis(left))).pipe(
          Effect.ensuring(Effect.sync(() => void waiting--)),
          Effect.zipRight(attempt)
        )
      })
      return attempt
    }

    /** The lease's session once built; a failure to build lets go of the lease. */
    const await_ = (slot: Slot, restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) =>
      slot.lease !== undefined ? Effect.succeed(slot.lease) : restore(Deferred.await(slot.ready))

    const unknown = (name: string) =>
      new PoolError({ reason: "UnknownServer", server: name, detail: `configured: ${[...byName.keys()].join(", ") || "none"}` })

    const resolveKey = (name: string, identity: Identity | undefined): PoolKey | undefined => {
      const server = byName.get(name)
      return server === undefined ? undefined : keyOf(server, (identity ?? anonymous) as IdentityImpl)
    }

    const get = (name: string, identity?: Identity): Effect.Effect<Lease, PoolError | GaveUp, Scope.Scope> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          const key = resolveKey(name, identity)
          if (key === undefined) return Effect.fail(unknown(name))
          return Effect.flatMap(acquire(key, restore), (slot) =>
            Effect.zipRight(Effect.addFinalizer(() => Effect.suspend(() => release(slot))), await_(slot, restore)))
        })
      )

    const use = <A, E, R>(
      name: string,
      identity: Identity | undefined,
      f: (session: McpSession.McpSession.Service) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | PoolError | GaveUp, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          const key = resolveKey(name, identity)
          if (key === undefined) return Effect.fail(unknown(name))
          const slot = slots.get(key.id)
          if (slot !== undefined && slot.lease !== undefined) {
            // the common case: a built session, taken and let go without a scope
            slot.leases++
            // its exit after the release, in the mask already held (`ensuring` would take another)
            return Effect.flatMap(Effect.exit(restore(f(slot.lease.session))), (exit) => Effect.zipRight(release(slot), exit))
          }
          return Effect.flatMap(acquire(key, restore), (admitted) =>
            Effect.ensuring(
              Effect.flatMap(await_(admitted, restore), (lease) => restore(f(lease.session))),
              Effect.suspend(() => release(admitted))
            ))
        })
      )

    const service: Api.McpSessionPool.Service = {
      servers: options.servers,
      anonymous,
      identity: makeIdentity,
      get,
      use,
      invalidate: (name, identity) =>
        Effect.suspend(() => {
          const key = resolveKey(name, identity)
          const slot = key !== undefined ? slots.get(key.id) : undefined
          return slot !== undefined ? closeSlot(slot) : Effect.void
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
