/**
 * The stdio transport against a small child that misbehaves on purpose (test/fixtures/stdio-server.mjs).
 */
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import { McpError, McpSession, McpSessionPolicy } from "@effect-mcp/session"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import type { Progress } from "@modelcontextprotocol/sdk/types.js"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { clientInfo, crashOf, isAlive, isRunning, realSleep, stdioFixture, timed, tracking, until } from "./utils.js"

const fixture = (options?: Partial<NodeMcpTransport.StdioOptions>) =>
  NodeMcpTransport.stdio({ command: process.execPath, args: [stdioFixture], ...options })

const open = (options?: Partial<NodeMcpTransport.StdioOptions>) =>
  McpSession.make({ transport: fixture(options), clientInfo, requestTimeout: "10 seconds" })



/**
 * A temporary file, removed with the scope, and the PIDs written to it (once it holds `count` of them): where
 * a shell tells the PIDs of the processes it starts. Each is SIGKILLed with the scope if it still runs.
 */
const pidFile = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "effect-mcp-stdio-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  const path = join(dir, "pids")
  const pids = (count: number) =>
    Effect.gen(function*() {
      let read: Array<number> = []
      yield* until(`${count} pids in ${path}`, Effect.sync(() => {
        try {
          read = readFileSync(path, "utf8").trim().split(/\s+/).filter((s) => s !== "").map(Number)
        } catch {
          read = []
        }
        return read.length >= count
      }))
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          for (const pid of read) if (isRunning(pid)) process.kill(pid, "SIGKILL")
        })
      )
      return read
    })
  return { path, pids }
})

/** Opens the transport alone (the child need not speak MCP) in `scope`; the reason of the first crash it reports. */
const openBare = (options: NodeMcpTransport.StdioOptions, scope: Scope.Scope) =>
  Effect.gen(function*() {
    const crashed = yield* Deferred.make<McpError.TransportCrashedReason>()
    let isCrashed = false
    yield* NodeMcpTransport.stdio(options).open({
      receive: () => {},
      crash: (reason) => {
        isCrashed = true
        Deferred.unsafeDone(crashed, Exit.succeed(reason))
      },
      isCrashed: () => isCrashed,
      failRequests: () => {}
    }).pipe(Scope.extend(scope))
    return Deferred.await(crashed)
  })

/**
 * SIGKILLs the child's process group (it, and what it started) before the session's own finalizers run, so
 * that closing never waits on the TestClock for an exit.
 */
const killGroupFirst = (pid: number) =>
  Effect.addFinalizer(() =>
    Effect.sync(() => {
      try {
        process.kill(-pid, "SIGKILL")
      } catch {
        // already gone
      }
    })
  )

/** How `fiber` ends, within 5 s of real time (the TestClock may stand still). */
const settles = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.raceFirst(Effect.map(Fiber.await(fiber), Option.some), Effect.as(realSleep(5000), Option.none()))
    assert.isTrue(Option.isSome(exit), "not settled after 5 s of real time")
    return Option.getOrThrow(exit)
  })

const call = (session: McpSession.McpSession.Service, name: string) => session.callTool({ name, arguments: {} })

const pidOf = (session: McpSession.McpSession.Service) =>
  Effect.map(call(session, "pid"), (result) => Number((result.content[0] as { text: string }).text))

describe("NodeMcpTransport.stdio", () => {
  it.scopedLive("child exits mid-call: ProcessExited with the exit code and the tail of stderr", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const { exit, millis } = yield* timed(call(session, "exit"))
      const crash = crashOf(exit)
      assert.strictEqual(crash.delivery, "MaybeDelivered")
      const reason = crash.reason
      assert.strictEqual(reason._tag, "ProcessExited")
      if (reason._tag !== "ProcessExited") return
      assert.strictEqual(reason.code, 3)
      assert.strictEqual(reason.signal, null)
      assert.include(reason.stderrTail, "fatal: boom")
      // the call waits 20 ms for the child to exit; the report must follow at once
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("child killed mid-call: ProcessExited with the signal", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const pid = yield* pidOf(session)
      const pending = yield* Effect.fork(timed(call(session, "hang")))
      yield* Effect.sleep("50 millis")
      process.kill(pid, "SIGKILL")
      const killedAt = performance.now()
      const { exit } = yield* pending
      const millis = performance.now() - killedAt
      const reason = crashOf(exit).reason
      assert.strictEqual(reason._tag, "ProcessExited")
      if (reason._tag === "ProcessExited") assert.strictEqual(reason.signal, "SIGKILL")
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("what the child wrote in its last tick is delivered: an answer and a stderr line without their newlines", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const pending = yield* Effect.fork(call(session, "hang"))
      const answered = yield* call(session, "answer-and-exit")
      assert.deepStrictEqual(answered.content, [{ type: "text", text: "answered before exit" }])
      const reason = crashOf(yield* Fiber.await(pending)).reason
      assert.strictEqual(reason._tag, "ProcessExited")
      if (reason._tag !== "ProcessExited") return
      assert.strictEqual(reason.code, 5)
      assert.include(reason.stderrTail, "last words")
    }).pipe(Effect.provide(NodeContext.layer)))

  // The TestClock stands still in these: a wait on the Clock (a grace after the first sign of death) would
  // never end, and the call would not settle.
  it.scoped("a child that closes stdout but lives: its calls fail at once, waiting on no timer", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const pid = yield* pidOf(session)
      yield* killGroupFirst(pid)
      const reason = crashOf(yield* settles(yield* Effect.fork(call(session, "close-stdout")))).reason
      assert.strictEqual(reason._tag, "ProcessExited")
      if (reason._tag === "ProcessExited") assert.deepStrictEqual([reason.code, reason.signal], [null, null])
      // the end of its stdout alone told: the child lives on
      assert.isTrue(isRunning(pid))
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("a child that exits while a process it started holds its stdout open: its calls fail at once with its exit code, waiting on no timer", () =>
    Effect.gen(function*() {
      const session = yield* open()
      yield* killGroupFirst(yield* pidOf(session))
      const reason = crashOf(yield* settles(yield* Effect.fork(call(session, "exit-leaving-grandchild")))).reason
      assert.strictEqual(reason._tag, "ProcessExited")
      if (reason._tag !== "ProcessExited") return
      assert.deepStrictEqual([reason.code, reason.signal], [6, null])
      const grandchild = Number(/grandchild (\d+)/.exec(reason.stderrTail)?.[1])
      // the pipes are still open: the exit alone told
      assert.isTrue(isRunning(grandchild), `grandchild ${grandchild} not running`)
    }).pipe(Effect.provide(NodeContext.layer)))

  // a short answer, and one that fills the pipe many times over: the child's last write leaves it full
  for (const { answer, tool } of [
    { tool: "answer-and-exit-leaving-grandchild", answer: "answered before exit" },
    { tool: "big-answer-and-exit-leaving-grandchild", answer: "x".repeat(1024 * 1024) }
  ]) {
    it.scoped(`a child that exits while a process it started holds its stdout open: what it wrote before is delivered, waiting on no timer (${tool})`, () =>
      Effect.gen(function*() {
        const session = yield* open()
        yield* killGroupFirst(yield* pidOf(session))
        const pending = yield* Effect.fork(call(session, "hang"))
        const answered = yield* settles(yield* Effect.fork(call(session, tool)))
        assert.isTrue(Exit.isSuccess(answered), "not answered")
        if (Exit.isSuccess(answered)) assert.isTrue(answered.value.content[0]?.type === "text" && answered.value.content[0].text === answer)
        const reason = crashOf(yield* settles(pending)).reason
        assert.strictEqual(reason._tag, "ProcessExited")
        if (reason._tag !== "ProcessExited") return
        assert.deepStrictEqual([reason.code, reason.signal], [7, null])
        assert.include(reason.stderrTail, "last words")
      }).pipe(Effect.provide(NodeContext.layer)))
  }

  it.scopedLive("a child that closes stdout but stays alive is dead to us", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const session = yield* open().pipe(Scope.extend(scope))
      const pid = yield* pidOf(session)
      const { exit, millis } = yield* timed(call(session, "close-stdout"))
      const reason = crashOf(exit).reason
      assert.strictEqual(reason._tag, "ProcessExited")
      if (reason._tag === "ProcessExited") {
        // still running: no code, no signal
        assert.strictEqual(reason.code, null)
        assert.strictEqual(reason.signal, null)
      }
      assert.isBelow(millis, 1000)
      assert.isTrue(isAlive(pid))
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(isAlive(pid))
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a child that exits at start: the session fails to open with its stderr", () =>
    Effect.gen(function*() {
      const { exit, millis } = yield* timed(open({ env: { FIXTURE_EXIT_AT_START: "1" } }))
      const reason = crashOf(exit).reason
      assert.strictEqual(reason._tag, "ProcessExited")
      if (reason._tag === "ProcessExited") {
        assert.strictEqual(reason.code, 2)
        assert.include(reason.stderrTail, "missing configuration")
      }
      assert.isBelow(millis, 2000)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a missing command: SpawnFailed with the command line and the OS error", () =>
    Effect.gen(function*() {
      const { exit, millis } = yield* timed(
        McpSession.make({
          transport: NodeMcpTransport.stdio({ command: "effect-mcp-no-such-command", args: ["--flag", "two words"] }),
          clientInfo
        })
      )
      const reason = crashOf(exit).reason
      assert.strictEqual(reason._tag, "SpawnFailed")
      if (reason._tag === "SpawnFailed") {
        assert.strictEqual(reason.command, "effect-mcp-no-such-command --flag 'two words'")
        assert.include(reason.error, "ENOENT")
      }
      assert.isTrue(McpError.isNotDeliveredReason(reason))
      assert.isBelow(millis, 1000)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a missing working directory: SpawnFailed", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(open({ cwd: "/nonexistent/effect-mcp" }))
      const reason = crashOf(exit).reason
      assert.strictEqual(reason._tag, "SpawnFailed")
      if (reason._tag === "SpawnFailed") assert.include(reason.error, "ENOENT")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("invalid lines are logged and counted, and the call still succeeds", () =>
    Effect.gen(function*() {
      const transport = fixture({ description: "stdio: garbage fixture" })
      const session = yield* McpSession.make({ transport, clientInfo })
      const counter = Metric.tagged(NodeMcpTransport.stdioInvalidLines, "transport", "stdio: garbage fixture")
      const before = (yield* Metric.value(counter)).count
      const result = yield* call(session, "garbage")
      assert.deepStrictEqual(result.content[0], { type: "text", text: "ok after garbage" })
      assert.strictEqual((yield* Metric.value(counter)).count - before, 2)
      // still alive
      yield* pidOf(session)
    }).pipe(Logger.withMinimumLogLevel(LogLevel.None), Effect.provide(NodeContext.layer)))

  it.scopedLive("invalidLines: \"crash\" makes an invalid line fatal", () =>
    Effect.gen(function*() {
      const session = yield* open({ invalidLines: "crash" })
      const reason = crashOf(yield* Effect.exit(call(session, "garbage"))).reason
      assert.strictEqual(reason._tag, "StreamClosed")
    }).pipe(Logger.withMinimumLogLevel(LogLevel.None), Effect.provide(NodeContext.layer)))

  it.scopedLive("invalidLines: \"crash\" ends the transport at the invalid line: an answer after it in the same read is not delivered", () =>
    Effect.gen(function*() {
      const lenient = yield* open()
      const result = yield* call(lenient, "garbage-and-answer")
      assert.deepStrictEqual(result.content[0], { type: "text", text: "answered after garbage" })
      const strict = yield* open({ invalidLines: "crash" })
      const reason = crashOf(yield* Effect.exit(call(strict, "garbage-and-answer"))).reason
      assert.strictEqual(reason._tag, "StreamClosed")
      if (reason._tag === "StreamClosed") assert.include(reason.detail, "invalid line on stdout")
    }).pipe(Logger.withMinimumLogLevel(LogLevel.None), Effect.provide(NodeContext.layer)))

  // the id where the TypeScript SDK writes it (last), first, and between two members
  for (const tool of ["oversize-answer", "oversize-answer-id-first", "oversize-answer-id-middle"]) {
    it.scopedLive(`an oversize answer (${tool}) fails its call alone with StreamClosed; the child and the session go on`, () =>
      Effect.gen(function*() {
        const session = yield* open({ maxMessageBytes: 1024 * 1024 })
        const pid = yield* pidOf(session)
        const { exit, millis } = yield* timed(call(session, tool))
        const crash = crashOf(exit)
        assert.strictEqual(crash.reason._tag, "StreamClosed")
        if (crash.reason._tag === "StreamClosed") {
          assert.match(
            crash.reason.detail,
            /^the answer to request \d+: a message on stdout exceeded the limit of 1048576 bytes \(\d{7} bytes read\)$/
          )
        }
        assert.strictEqual(crash.delivery, "MaybeDelivered")
        assert.isBelow(millis, 2000)
        // not a crash of the host, nor of the child: the same child answers the next call
        assert.strictEqual(yield* pidOf(session), pid)
      }).pipe(Effect.provide(NodeContext.layer)))
  }

  it.scopedLive("an oversize answer whose id comes first fails its call as soon as the limit is crossed, though the line never ends", () =>
    Effect.gen(function*() {
      const session = yield* open({ maxMessageBytes: 1024 * 1024 })
      const { exit, millis } = yield* timed(call(session, "endless-answer-id-first"))
      const crash = crashOf(exit)
      assert.strictEqual(crash.reason._tag, "StreamClosed")
      if (crash.reason._tag === "StreamClosed") {
        assert.match(crash.reason.detail, /^the answer to request \d+: a message on stdout exceeded the limit of 1048576 bytes \(\d+ bytes read\)$/)
        // told when the limit was crossed, not at the line's end: at most one chunk over it had been read
        const read = Number(/\((\d+) bytes read\)/.exec(crash.reason.detail)![1])
        assert.isAbove(read, 1024 * 1024)
        assert.isBelow(read, 1024 * 1024 + 1024 * 1024)
      }
      assert.isBelow(millis, 2000)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a server's request over the limit is answered at once with an error: the server does not wait for its timeout", () =>
    Effect.gen(function*() {
      const session = yield* open({ maxMessageBytes: 1024 * 1024 }).pipe(Logger.withMinimumLogLevel(LogLevel.None))
      const { exit, millis } = yield* timed(call(session, "oversize-request"))
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isSuccess(exit)) {
        assert.deepStrictEqual(exit.value.content[0], {
          type: "text",
          text: "the client refused the ping: -32600 MCP error -32600: the request exceeded the client's limit of 1048576 bytes, and was not read"
        })
      }
      // the server's own timeout for the ping is 5 s
      assert.isBelow(millis, 2000)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("an oversize message that is no answer is an invalid line: logged and counted, or fatal with invalidLines: \"crash\"", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const logger = Logger.make(({ message }) => void logged.push(String(message)))
      const session = yield* open({ maxMessageBytes: 1024 * 1024 }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      const result = yield* call(session, "oversize").pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      assert.deepStrictEqual(result.content[0], { type: "text", text: "ok after oversize" })
      assert.isTrue(logged.some((m) => m.includes("exceeded the limit of 1048576 bytes, and was dropped")), logged.join("\n"))
      const strict = yield* open({ maxMessageBytes: 1024 * 1024, invalidLines: "crash" }).pipe(Logger.withMinimumLogLevel(LogLevel.None))
      const reason = crashOf(yield* Effect.exit(call(strict, "oversize"))).reason
      assert.strictEqual(reason._tag, "StreamClosed")
      if (reason._tag === "StreamClosed") assert.include(reason.detail, "exceeded the limit of 1048576 bytes")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a stderr line over the limit is dropped whole, and the lines after it are kept", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const reason = crashOf(yield* Effect.exit(call(session, "long-stderr-exit"))).reason
      assert.strictEqual(reason._tag, "ProcessExited")
      if (reason._tag !== "ProcessExited") return
      assert.include(reason.stderrTail, "[a stderr line of 102400 bytes was dropped]")
      assert.include(reason.stderrTail, "the line after")
      assert.notInclude(reason.stderrTail, "zzz")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("stderr lines go to the Effect logger at stderrLogLevel, annotated; below the minimum level they are not logged, and still kept for the tail", () =>
    Effect.gen(function*() {
      const logged: Array<{ message: string; level: string; annotations: Record<string, unknown> }> = []
      const logger = Logger.make(({ annotations, logLevel, message }) =>
        void logged.push({
          message: String(Array.isArray(message) ? message[0] : message),
          level: logLevel.label,
          annotations: Object.fromEntries(annotations)
        })
      )
      const withLogger = Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      const loud = yield* open({ stderrLogLevel: LogLevel.Info, description: "stdio: loud" }).pipe(withLogger)
      const pid = yield* pidOf(loud)
      const reason = crashOf(yield* Effect.exit(call(loud, "exit"))).reason
      assert.strictEqual(reason._tag, "ProcessExited")
      const line = logged.find((l) => l.message === "fatal: boom")
      assert.isDefined(line, JSON.stringify(logged))
      assert.strictEqual(line!.level, "INFO")
      assert.deepInclude(line!.annotations, { module: "NodeMcpTransport", stream: "stderr", transport: "stdio: loud", pid })
      logged.length = 0
      // the default level, Debug, is below the default minimum, Info
      const quiet = yield* open().pipe(withLogger)
      const quietReason = crashOf(yield* Effect.exit(call(quiet, "exit"))).reason
      assert.strictEqual(quietReason._tag, "ProcessExited")
      if (quietReason._tag === "ProcessExited") assert.include(quietReason.stderrTail, "fatal: boom")
      assert.isUndefined(logged.find((l) => l.message === "fatal: boom"))
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a send after the close fails as not delivered", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const connection = yield* NodeMcpTransport.stdio({ command: process.execPath, args: [stdioFixture] }).open({
        receive: () => {},
        crash: () => {},
        isCrashed: () => false,
        failRequests: () => {}
      }).pipe(Scope.extend(scope))
      yield* connection.send({ jsonrpc: "2.0", method: "notifications/initialized" })
      yield* Scope.close(scope, Exit.void)
      const exit = yield* Effect.exit(connection.send({ jsonrpc: "2.0", method: "notifications/initialized" }))
      const crash = crashOf(exit)
      assert.strictEqual(crash.delivery, "NotDelivered")
      assert.strictEqual(crash.reason._tag, "Closed")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("the environment is not inherited unless asked", () =>
    Effect.gen(function*() {
      process.env.EFFECT_MCP_PARENT_SECRET = "s3cret"
      yield* Effect.addFinalizer(() => Effect.sync(() => delete process.env.EFFECT_MCP_PARENT_SECRET))
      const names = (session: McpSession.McpSession.Service) =>
        Effect.map(call(session, "env"), (r) => JSON.parse((r.content[0] as { text: string }).text) as Array<string>)
      const isolated = yield* names(yield* open({ env: { EXTRA: "1" } }))
      assert.include(isolated, "PATH")
      assert.include(isolated, "EXTRA")
      assert.notInclude(isolated, "EFFECT_MCP_PARENT_SECRET")
      const inherited = yield* names(yield* open({ inheritEnv: true }))
      assert.include(inherited, "EFFECT_MCP_PARENT_SECRET")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("every progress notification arrives, the last one included, before the result", () =>
    Effect.gen(function*() {
      const session = yield* open()
      for (let round = 0; round < 5; round++) {
        const progress: Array<Progress> = []
        yield* session.callTool({ name: "progress", arguments: {} }, { onProgress: (p) => void progress.push(p) })
        assert.deepStrictEqual(progress.map((p) => p.progress), [1, 2, 3])
      }
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("closing the scope with a call pending: the call is interrupted, the child is gone", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const session = yield* open().pipe(Scope.extend(scope))
      const pid = yield* pidOf(session)
      const pending = yield* Effect.fork(Effect.exit(call(session, "hang")))
      yield* Effect.sleep("50 millis")
      const { millis } = yield* timed(Scope.close(scope, Exit.void))
      const exit = yield* pending
      const reason = crashOf(exit).reason
      assert.strictEqual(reason._tag, "Closed")
      assert.isFalse(isAlive(pid))
      // stdin closed, then SIGTERM: the fixture exits on SIGTERM well within the grace
      assert.isBelow(millis, 1500)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a child that ignores SIGTERM is SIGKILLed after the grace period", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const session = yield* open({ env: { FIXTURE_IGNORE_SIGTERM: "1" }, sigtermGrace: "300 millis" }).pipe(
        Scope.extend(scope)
      )
      const pid = yield* pidOf(session)
      const { millis } = yield* timed(Scope.close(scope, Exit.void))
      assert.isFalse(isAlive(pid))
      assert.isAtLeast(millis, 300)
      assert.isBelow(millis, 2000)
    }).pipe(Effect.provide(NodeContext.layer)))

  // a wrapper (`npx`, a shell) that exits, or is killed (the OOM killer), while the server it started runs
  for (
    const { end, expected } of [
      { end: "exit 0", expected: { code: 0, signal: null } },
      { end: "kill -KILL $$", expected: { code: null, signal: "SIGKILL" } }
    ]
  ) {
    it.scopedLive(`the processes a child started are signalled on close though the child is gone (${end})`, () =>
      Effect.gen(function*() {
        const file = yield* pidFile
        const scope = yield* Scope.make()
        const crashed = yield* openBare({
          command: "sh",
          args: ["-c", `sleep 30 & echo $! > '${file.path}'; ${end}`],
          stdinCloseGrace: "50 millis",
          sigtermGrace: "500 millis"
        }, scope)
        const reason = yield* crashed
        assert.strictEqual(reason._tag, "ProcessExited")
        if (reason._tag === "ProcessExited") assert.deepStrictEqual({ code: reason.code, signal: reason.signal }, expected)
        const [grandchild] = yield* file.pids(1)
        assert.isTrue(isRunning(grandchild!))
        const { millis } = yield* timed(Scope.close(scope, Exit.void))
        assert.isFalse(isRunning(grandchild!), "the grandchild outlived the close")
        // `sleep` exits on SIGTERM, after the stdin grace
        assert.isBelow(millis, 500)
      }).pipe(Effect.provide(NodeContext.layer)))
  }

  it.scopedLive("a server left behind by its killed wrapper, ignoring SIGTERM and the end of stdin, is SIGKILLed on close", () =>
    Effect.gen(function*() {
      const file = yield* pidFile
      const scope = yield* Scope.make()
      // the wrapper hands its stdin to the server (a background job's stdin is /dev/null otherwise)
      const session = yield* McpSession.make({
        transport: NodeMcpTransport.stdio({
          command: "sh",
          args: ["-c", `exec 3<&0; '${process.execPath}' '${stdioFixture}' <&3 3<&- & echo $$ $! > '${file.path}'; wait`],
          env: { FIXTURE_IGNORE_SIGTERM: "1" },
          stdinCloseGrace: "50 millis",
          sigtermGrace: "300 millis"
        }),
        clientInfo,
        requestTimeout: "10 seconds"
      }).pipe(Scope.extend(scope))
      const [wrapper, server] = yield* file.pids(2)
      assert.strictEqual(yield* pidOf(session), server)
      process.kill(wrapper!, "SIGKILL")
      // the wrapper's death is reported; the server lives on
      yield* until("the wrapper's death reported", Effect.map(Effect.exit(pidOf(session)), Exit.isFailure))
      assert.isTrue(isRunning(server!))
      const { millis } = yield* timed(Scope.close(scope, Exit.void))
      assert.isFalse(isRunning(server!), "the server outlived the close")
      assert.isAtLeast(millis, 300)
      assert.isBelow(millis, 2000)
    }).pipe(Effect.provide(NodeContext.layer), Logger.withMinimumLogLevel(LogLevel.Error)))

  // an interrupt reaches the children of the fiber it interrupts, in their interruptible regions, though that
  // fiber runs a finalizer (uninterruptible): as when a resilient layer's shutdown interrupts the fiber that
  // closes a crashed generation
  for (const { during, after } of [{ during: "the stdin grace", after: 150 }, { during: "the SIGTERM grace", after: 450 }]) {
    it.scopedLive(`closing from a fiber interrupted during ${during}: SIGTERM and SIGKILL still come, within their bounds`, () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const session = yield* open({ env: { FIXTURE_IGNORE_SIGTERM: "1" }, stdinCloseGrace: "300 millis", sigtermGrace: "300 millis" })
          .pipe(Scope.extend(scope))
        const pid = yield* pidOf(session)
        // runs after the check below: a close stuck in the platform's release ends when the child does
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            if (isRunning(pid)) process.kill(pid, "SIGKILL")
          })
        )
        let closedIn: number | undefined = undefined
        const closing = yield* Effect.fork(Effect.uninterruptible(
          timed(Scope.close(scope, Exit.void)).pipe(Effect.tap(({ millis }) => Effect.sync(() => void (closedIn = millis))))
        ))
        yield* realSleep(after)
        assert.isTrue(isRunning(pid))
        yield* Fiber.interruptAsFork(closing, yield* Effect.fiberId)
        const exit = yield* Fiber.await(closing).pipe(Effect.timeoutOption("5 seconds"))
        assert.isTrue(Option.isSome(exit), "the close did not end")
        assert.isFalse(isRunning(pid))
        assert.isDefined(closedIn)
        assert.isAtLeast(closedIn!, 600)
        assert.isBelow(closedIn!, 2000)
      }).pipe(Effect.provide(NodeContext.layer), Logger.withMinimumLogLevel(LogLevel.Error)))
  }

  it.scopedLive("crash/rebuild cycles of a resilient session leave no dead child's transport reachable", () =>
    Effect.gen(function*() {
      const tracked = tracking(fixture())
      const { lifecycle, session } = yield* McpSession.makeResilient(
        { transport: tracked.transport, clientInfo, requestTimeout: "10 seconds" },
        McpSessionPolicy.make({ keepAlive: false, reconnect: Schedule.spaced("10 millis") })
      )
      for (let generation = 2; generation <= 4; generation++) {
        process.kill(yield* pidOf(session), "SIGKILL")
        yield* until(
          `generation ${generation}`,
          Effect.map(lifecycle.state, (s) => s._tag === "Connected" && s.generation === generation)
        )
      }
      yield* pidOf(session)
      const reachable = yield* tracked.reachable(1)
      assert.strictEqual(tracked.opened(), 4)
      assert.strictEqual(reachable, 1, `${reachable} of 4 transports still reachable`)
    }).pipe(Effect.provide(NodeContext.layer), Logger.withMinimumLogLevel(LogLevel.Error)))
})
