/**
 * The typed errors themselves: what a `TransportCrashed` carries, and what it does not (a stack trace).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import { McpError } from "../src/index.js"

const crash = () =>
  new McpError.TransportCrashed({
    reason: new McpError.ProcessExited({ code: null, signal: "SIGKILL", stderrTail: "" }),
    transport: "stdio: node server.js"
  })

const hasFrames = (stack: string | undefined) => /\n\s+at /.test(stack ?? "")

describe("McpError.TransportCrashed", () => {
  it("captures no stack trace: its stack is its first line", () => {
    const limit = Error.stackTraceLimit
    const error = crash()
    assert.strictEqual(error.stack, "TransportCrashed: stdio: node server.js: server process killed by SIGKILL")
    assert.isFalse(hasFrames(error.withDelivery("MaybeDelivered").stack))
    assert.isFalse(hasFrames(new McpError.TransportCrashed({ reason: error.reason, transport: "t" }, true).stack))
    // the limit is V8's, for every error of the process: it is put back
    assert.strictEqual(Error.stackTraceLimit, limit)
    assert.isTrue(hasFrames(new Error("an ordinary error").stack))
  })

  it("invalid fields throw a ParseError with the caller's frames, and the limit is put back", () => {
    const limit = Error.stackTraceLimit
    let thrown: unknown = undefined
    try {
      new McpError.TransportCrashed({ reason: "not a reason" as never, transport: "t" })
    } catch (error) {
      thrown = error
    }
    assert.strictEqual((thrown as { _tag?: string } | undefined)?._tag, "ParseError")
    assert.isTrue(hasFrames((thrown as Error).stack), "the ParseError lost its frames")
    assert.match((thrown as Error).stack!, /McpError\.test\.ts/)
    assert.strictEqual(Error.stackTraceLimit, limit)
  })

  it.effect("a failed call still shows where it was made: the request's span", () =>
    Effect.gen(function*() {
      const failed = yield* Effect.fail(crash()).pipe(Effect.withSpan("McpSession.callTool"), Effect.cause)
      const pretty = Cause.pretty(failed)
      assert.match(pretty, /^TransportCrashed: stdio: node server\.js: server process killed by SIGKILL/)
      assert.match(pretty, /at McpSession\.callTool/)
      assert.isTrue(McpError.isMcpError(Cause.squash(failed)))
    }))
})

describe("McpError guards", () => {
  it("each error has its guard, and no guard takes another error for its own", () => {
    const errors = {
      TransportCrashed: crash(),
      RequestTimeout: new McpError.RequestTimeout({ method: "ping", timeoutMillis: 1 }),
      ProtocolError: new McpError.ProtocolError({ method: "ping", code: -32603, detail: "x" }),
      Cancelled: new McpError.Cancelled({ method: "ping", detail: "x" }),
      ToolError: new McpError.ToolError({ toolName: "t", detail: "x", result: { content: [] } }),
      GaveUp: new McpError.GaveUp({ transport: "t", attempts: 1, lastError: crash() })
    }
    const guards: Record<keyof typeof errors, (u: unknown) => boolean> = {
      TransportCrashed: McpError.isTransportCrashed,
      RequestTimeout: McpError.isRequestTimeout,
      ProtocolError: McpError.isProtocolError,
      Cancelled: McpError.isCancelled,
      ToolError: McpError.isToolError,
      GaveUp: McpError.isGaveUp
    }
    for (const [name, guard] of Object.entries(guards)) {
      for (const [other, error] of Object.entries(errors)) {
        assert.strictEqual(guard(error), name === other, `${name} guard on ${other}`)
        assert.isTrue(McpError.isMcpError(error))
      }
    }
  })
})

describe("McpError retryable", () => {
  const http = (status: number, initial: boolean) => new McpError.HttpStatus({ status, method: "POST", body: "", initial })
  const spawn = (code: string | undefined) =>
    new McpError.SpawnFailed({ command: "x", error: `spawn x ${code ?? "?"}`, ...(code !== undefined ? { code } : {}) })

  it("permanent reasons: a wrong URL, a refused credential, a missing command", () => {
    const cases: ReadonlyArray<readonly [McpError.TransportCrashedReason, boolean]> = [
      [http(404, true), false],
      [http(405, true), false],
      [http(410, true), false],
      [http(401, true), false],
      [http(403, false), false],
      [http(401, false), false],
      // once the endpoint answered, a 404 is a route or session that went away
      [http(404, false), true],
      [http(400, true), true],
      [http(408, true), true],
      [http(429, true), true],
      [http(500, true), true],
      [http(503, false), true],
      [spawn("ENOENT"), false],
      [spawn("EACCES"), false],
      [spawn("EAGAIN"), true],
      [spawn(undefined), true],
      [new McpError.ProcessExited({ code: 1, signal: null, stderrTail: "" }), true],
      [new McpError.ConnectionFailed({ detail: "ECONNREFUSED", beforeSend: true }), true],
      [new McpError.StreamClosed({ detail: "cut" }), true],
      [new McpError.SessionExpired({ status: 404, detail: "gone" }), true],
      [new McpError.LivenessLost({ missed: 2 }), true],
      [new McpError.Closed({ detail: "peer" }), true],
      [new McpError.InvalidConfiguration({ detail: "a header value with CR" }), false]
    ]
    for (const [reason, retryable] of cases) {
      assert.strictEqual(reason.retryable, retryable, reason.description)
      assert.strictEqual(new McpError.TransportCrashed({ reason, transport: "t" }).retryable, retryable)
    }
    // refused before anything was sent
    assert.isTrue(McpError.isNotDeliveredReason(new McpError.InvalidConfiguration({ detail: "x" })))
    // not said: an endpoint that answered before (the default)
    assert.isFalse(new McpError.HttpStatus({ status: 404, method: "POST", body: "" }).initial)
  })

  it("InitializeFailed: Invalid (no protocol version in common) is permanent", () => {
    const failed = (reason: McpError.InitializeFailed["reason"]) => new McpError.InitializeFailed({ transport: "t", reason, detail: "x" })
    assert.isFalse(failed("Invalid").retryable)
    assert.isTrue(failed("Rejected").retryable)
    assert.isTrue(failed("Timeout").retryable)
  })
})
