import type { Tool as SdkTool } from "@modelcontextprotocol/sdk/types.js"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberHandle from "effect/FiberHandle"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as McpError from "../McpError.js"
import type { McpSession as McpSessionNs } from "../McpSession.js"
import { McpSessionPool, PoolError } from "../McpSessionPool.js"
import type * as Api from "../McpToolset.js"
import { McpToolset, ToolsetError } from "../McpToolset.js"

/** What one server contributes, as last known. */
interface ServerEntry {
  readonly name: string
  readonly prefix: string
  status: Api.ServerStatus
  /** Its tools after filtering; kept while it is unavailable, to say why a call of one cannot be served. */
  tools: ReadonlyArray<SdkTool>
  /** The session held while it is connected. */
  session: McpSessionNs.Service | undefined
  /** The timer that lists the tools again when the server's `ttlMs` has passed, while a session serves. */
  expiry: FiberHandle.FiberHandle<void, never> | undefined
  readonly relist: Effect.Semaphore
}

const passes = (filter: Api.Filter | undefined, tool: SdkTool) =>
  filter === undefined ||
  ((filter.allow === undefined || filter.allow.includes(tool.name)) &&
    (filter.deny === undefined || !filter.deny.includes(tool.name)) &&
    (filter.where === undefined || filter.where(tool)))

interface Composed {
  readonly state: Api.State
  /** The set's names to their tools. */
  readonly index: ReadonlyMap<string, Api.Tool>
  /** The names an unavailable server's tools had, to their server. */
  readonly unavailable: ReadonlyMap<string, ServerEntry>
}

const compose = (entries: ReadonlyArray<ServerEntry>, naming: Api.Naming, separator: string): Composed => {
  const prefixed = (entry: ServerEntry, tool: SdkTool) => `${entry.prefix}${separator}${tool.name}`
  const servedBy = new Map<string, Array<string>>()
  for (const entry of entries) {
    if (entry.status._tag !== "Ready") continue
    for (const tool of entry.tools) {
      const list = servedBy.get(tool.name)
      if (list === undefined) servedBy.set(tool.name, [entry.name])
      else if (!list.includes(entry.name)) list.push(entry.name)
    }
  }
  const nameOf = (entry: ServerEntry, tool: SdkTool): string => {
    switch (naming) {
      case "prefix":
        return prefixed(entry, tool)
      case "prefixOnConflict":
        return servedBy.get(tool.name)!.length > 1 ? prefixed(entry, tool) : tool.name
      case "error":
      case "firstWins":
        return tool.name
    }
  }
  const tools: Array<Api.Tool> = []
  const index = new Map<string, Api.Tool>()
  const collided = new Map<string, Array<string>>()
  const unavailable = new Map<string, ServerEntry>()
  for (const entry of entries) {
    if (entry.status._tag !== "Ready") {
      for (const tool of entry.tools) {
        unavailable.set(prefixed(entry, tool), entry)
        if (!unavailable.has(tool.name)) unavailable.set(tool.name, entry)
      }
      continue
    }
    for (const tool of entry.tools) {
      const name = nameOf(entry, tool)
      const taken = index.get(name)
      if (taken !== undefined || collided.has(name)) {
        // "firstWins" keeps the first; every other rule leaves a name it cannot tell apart out of the set
        const servers = collided.get(name) ?? [taken!.server]
        if (!servers.includes(entry.name)) servers.push(entry.name)
        collided.set(name, servers)
        if (naming !== "firstWins" && taken !== undefined) index.delete(name)
        continue
      }
      const named = { name, server: entry.name, tool }
      index.set(name, named)
    }
  }
  for (const tool of index.values()) tools.push(tool)
  // in the order of the servers, then as listed: index kept insertion order, less what collided
  const servers: Record<string, Api.ServerStatus> = {}
  for (const entry of entries) servers[entry.name] = entry.status
  const collisions = [...collided].map(([name, servers]) => ({ name, servers }))
  return { state: { tools, servers, collisions }, index, unavailable }
}

/** @internal */
export const make = (
  options: Api.McpToolset.Options = {}
): Effect.Effect<Api.McpToolset.Service, never, Scope.Scope | McpSessionPool> =>
  Effect.gen(function*() {
    const pool = yield* McpSessionPool
    const naming = options.naming ?? "prefix"
    const separator = options.separator ?? "__"
    const identity = options.identity ?? pool.anonymous
    const retry = options.retry ?? Schedule.spaced("30 seconds")
    const configured = new Map(pool.servers.map((server) => [server.name, server]))
    const names = options.servers ?? pool.servers.map((server) => server.name)
    const entries: Array<ServerEntry> = []
    const byName = new Map<string, ServerEntry>()
    for (const name of names) {
      const server = configured.get(name)
      const entry: ServerEntry = {
        name,
        prefix: server?.prefix ?? name,
        status: { _tag: "Connecting" },
        tools: [],
        session: undefined,
        expiry: undefined,
        relist: yield* Effect.makeSemaphore(1)
      }
      entries.push(entry)
      byName.set(name, entry)
    }

    let composed = compose(entries, naming, separator)
    const state = yield* SubscriptionRef.make(composed.state)
    const publish = Effect.suspend(() => {
      composed = compose(entries, naming, separator)
      return SubscriptionRef.set(state, composed.state)
    })

    const filterOf = (name: string, tools: ReadonlyArray<SdkTool>) =>
      tools.filter((tool) => passes(options.filter, tool) && passes(options.filters?.[name], tool))

    /**
     * Lists the server's tools again; one listing at a time per server, so the last one started wins. A
     * listing the server says is fresh for `ttlMs` (2026-07-28) is listed again once that has passed, at
     * most once a second; one with no time (0, or none said) waits for a change or a rebuild.
     */
    const relist = (entry: ServerEntry, session: McpSessionNs.Service): Effect.Effect<void, McpError.RequestError> =>
      entry.relist.withPermits(1)(
        Effect.flatMap(session.listToolsWithCache(), (listing) =>
          Effect.suspend(() => {
            if (entry.session !== session) return Effect.void
            entry.tools = filterOf(entry.name, listing.tools)
            entry.status = { _tag: "Ready", tools: entry.tools.length }
            const expiry = entry.expiry
            const again: Effect.Effect<unknown> = Option.isSome(listing.cache) && listing.cache.value.ttlMillis > 0 && expiry !== undefined
              ? FiberHandle.run(
                expiry,
                Effect.sleep(Duration.millis(Math.max(1000, listing.cache.value.ttlMillis))).pipe(
                  Effect.zipRight(Effect.suspend(() => relistLogged(entry, session)))
                )
              )
              : Effect.void
            return Effect.zipRight(publish, Effect.asVoid(again))
          }))
      )

    const relistLogged = (entry: ServerEntry, session: McpSessionNs.Service): Effect.Effect<void> =>
      relist(entry, session).pipe(
        Effect.catchAll((error) => Effect.logWarning(`listing the tools of ${entry.name} again failed: ${error.message}`)),
        Effect.annotateLogs({ module: "McpToolset", method: "refresh" })
      )

    /** Until the session gives up: holds it, listens for changes of its tools, keeps them listed. */
    const serve = (entry: ServerEntry) =>
      Effect.gen(function*() {
        const lease = yield* pool.get(entry.name, identity)
        const session = lease.session
        entry.session = session
        // the listing's expiry, while this session serves
        entry.expiry = yield* FiberHandle.make<void, never>()
        // each change lists the tools again, one listing at a time
        const changed = (_: unknown) => relistLogged(entry, session)
        // (under 2026-07-28 a server tells of changes only to a listener: listChanged listens)
        yield* Effect.forkScoped(Stream.runForEach(session.listChanged("tools"), changed).pipe(
          Effect.catchAll((error) => Effect.logDebug(`no longer told of ${entry.name}'s tool changes: ${error.message}`))
        ))
        yield* Effect.forkScoped(Stream.runForEach(Stream.filter(lease.lifecycle.events, (e) => e._tag === "Rebuilt"), changed))
        // the consumers subscribe as they first run: let them, before the first listing (a change the server
        // announced before that is in the listing anyway)
        for (let i = 0; i < 3; i++) yield* Effect.yieldNow()
        yield* relist(entry, session)
        return yield* session.await
      }).pipe(
        Effect.scoped,
        Effect.catchAll((error) =>
          Effect.suspend(() => {
            entry.session = undefined
            entry.status = { _tag: "Unavailable", error }
            return Effect.zipRight(
              Effect.logWarning(`server ${entry.name} is unavailable: ${error.message}`),
              publish
            )
          })
        ),
        Effect.onInterrupt(() => Effect.sync(() => void (entry.session = undefined))),
        Effect.annotateLogs({ module: "McpToolset", method: "serve" })
      )

    for (const entry of entries) {
      if (!configured.has(entry.name)) {
        const known = [...configured.keys()].join(", ")
        entry.status = {
          _tag: "Unavailable",
          error: new PoolError({ reason: "UnknownServer", server: entry.name, detail: `configured: ${known || "none"}` })
        }
        continue
      }
      yield* Effect.forkScoped(Effect.repeat(serve(entry), retry))
    }
    yield* publish

    const unavailable = (name: string, entry: ServerEntry) =>
      new ToolsetError({
        reason: "Unavailable",
        tool: name,
        server: entry.name,
        ...(entry.status._tag === "Unavailable" ? { error: entry.status.error } : {})
      })

    const call: Api.McpToolset.Service["call"] = (name, args, callOptions) =>
      Effect.suspend((): ReturnType<Api.McpToolset.Service["call"]> => {
        const found = composed.index.get(name)
        if (found === undefined) {
          const collision = composed.state.collisions.find((c) => c.name === name)
          if (collision !== undefined) {
            return Effect.fail(new ToolsetError({ reason: "Collision", tool: name, servers: collision.servers }))
          }
          const down = composed.unavailable.get(name) ??
            entries.find((e) => e.status._tag !== "Ready" && name.startsWith(`${e.prefix}${separator}`))
          if (down !== undefined) return Effect.fail(unavailable(name, down))
          return Effect.fail(new ToolsetError({ reason: "UnknownTool", tool: name }))
        }
        const entry = byName.get(found.server)!
        const session = entry.session
        if (session === undefined) return Effect.fail(unavailable(name, entry))
        return session.callTool(
          { name: found.tool.name, ...(args !== undefined ? { arguments: args } : {}) },
          callOptions
        )
      })

    const service: Api.McpToolset.Service = {
      state,
      changes: state.changes,
      tools: Effect.map(SubscriptionRef.get(state), (s) => s.tools),
      ready: state.changes.pipe(
        Stream.filter((s) => Object.values(s.servers).every((status) => status._tag !== "Connecting")),
        Stream.runHead,
        Effect.map(Option.getOrElse(() => composed.state))
      ),
      call,
      refresh: (server) =>
        Effect.forEach(
          entries.filter((e) => server === undefined || e.name === server),
          (entry) => entry.session !== undefined ? relistLogged(entry, entry.session) : Effect.void,
          { discard: true, concurrency: "unbounded" }
        )
    }
    return service
  })

/** @internal */
export const layer = (options?: Api.McpToolset.Options): Layer.Layer<McpToolset, never, McpSessionPool> =>
  Layer.scoped(McpToolset, make(options))
