import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as PlatformError from "@effect/platform/Error"
import { McpError, McpTransport } from "@effect-mcp/session"
import { getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as LogLevel from "effect/LogLevel"
import * as Mailbox from "effect/Mailbox"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Stream from "effect/Stream"
import type * as Api from "../NodeMcpTransport.js"
import { LineSplitter } from "./lines.js"
import {
  defaultMaxMessageBytes,
  excerpt,
  MessageIdScanner,
  oversizeAnswer,
  oversizeRefusal,
  parseMessages
} from "./messages.js"
import type { ExitStatus } from "./zombie.js"
import { exiting, groupRunning, pidReused, startTimeOf, zombieExit } from "./zombie.js"

/** @internal */
export const invalidLines = Metric.counter("effect_mcp_stdio_invalid_lines", {
  description: "stdout lines of stdio MCP servers that were not JSON-RPC messages",
  incremental: true
})

/**
 * What a dead child wrote is in its pipe (at most `/proc/sys/fs/pipe-max-size`, 1 MiB by default) or already
 * read: a stdout that a process it started holds open is drained no further than this.
 */
const maxDrainBytes = 2 * 1024 * 1024
const maxStderrLineBytes = 64 * 1024
const maxStderrLineChars = 1000

/**
 * Children whose scope is still open, their process groups SIGKILLed when the host process exits: the
 * scope's finalizer is the real shutdown, this is the safety net for a host that exits without closing its
 * scopes (a test worker torn down, a `process.exit`), since a child in its own process group would
 * otherwise outlive it. A child that has exited stays here until its scope closes: the processes it
 * started may still run in its group.
 */
const liveChildren = new Set<number>()
let exitHookInstalled = false
const trackChild = (pid: number): void => {
  liveChildren.add(pid)
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once("exit", () => {
    for (const child of liveChildren) {
      try {
        process.kill(-child, "SIGKILL")
      } catch {
        try {
          process.kill(child, "SIGKILL")
        } catch {
          // already gone
        }
      }
    }
  })
}

/** How often the close samples whether the child's process group still runs: the OS gives no event for it. */
const groupPollInterval = 10

/**
 * A real-time pause between two samples: the OS does not follow a `TestClock`. The bound of each wait is on
 * the Clock (`timeoutOption`), only its sampling is in real time.
 */
const groupPoll = Effect.async<void>((resume) => {
  const timer = setTimeout(() => resume(Effect.void), groupPollInterval)
  return Effect.sync(() => clearTimeout(timer))
})

/**
 * A poll phase of the event loop, which reads every pipe that has data, then a pass of the scheduler, in
 * which the readers' fibers hand on what was read: no timer, on the Clock or off it. The second immediate is
 * queued in a check phase, so it runs in the next turn of the loop, after its poll phase.
 */
const loopTurn = Effect.async<void>((resume) => {
  let immediate = setImmediate(() => {
    immediate = setImmediate(() => resume(Effect.void))
  })
  return Effect.sync(() => clearImmediate(immediate))
}).pipe(Effect.zipRight(Effect.yieldNow()))

const quote = (arg: string): string => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)

/** The OS error of a failed spawn, e.g. `spawn nonexistent ENOENT`. */
const spawnError = (error: PlatformError.PlatformError): string =>
  error._tag === "SystemError" && error.description !== undefined ? `${error.description}` : error.message

/** The OS's error code of a failed spawn (`ENOENT`...), read from the platform's error or its cause. */
const spawnCode = (error: PlatformError.PlatformError): string | undefined => {
  const code = (error.cause as { code?: unknown } | undefined)?.code
  if (typeof code === "string") return code
  if (error._tag !== "SystemError") return undefined
  return error.reason === "NotFound" ? "ENOENT" : error.reason === "PermissionDenied" ? "EACCES" : undefined
}

/** The platform reports a signal death as a failure whose message names the signal. */
const signalOf = (error: PlatformError.PlatformError): string | null => {
  const text = `${error._tag === "SystemError" ? error.description ?? "" : ""} ${error.message}`
  return /signal:\s*(SIG[A-Z0-9]+)/.exec(text)?.[1] ?? null
}

/** @internal */
export const stdio = (options: Api.StdioOptions): McpTransport.McpTransport<CommandExecutor.CommandExecutor> => {
  const args = options.args ?? []
  const commandLine = [options.command, ...args].map(quote).join(" ")
  const description = options.description ?? `stdio: ${commandLine}`
  const maxMessageBytes = options.maxMessageBytes ?? defaultMaxMessageBytes
  const tailLines = options.stderrTailLines ?? 20
  const stderrLevel = options.stderrLogLevel ?? LogLevel.Debug
  const stdinCloseGrace = Duration.decode(options.stdinCloseGrace ?? "100 millis")
  const sigtermGrace = Duration.decode(options.sigtermGrace ?? "2 seconds")
  const invalidCounter = Metric.tagged(invalidLines, "transport", description)

  return McpTransport.make<CommandExecutor.CommandExecutor>({
    description,
    open: (control) =>
      Effect.gen(function*() {
        const env: Record<string, string | undefined> = options.inheritEnv === true
          ? { ...process.env, ...options.env }
          : { ...getDefaultEnvironment(), ...options.env }
        let command = Command.make(options.command, ...args).pipe(
          Command.env(env, { extendEnv: false }),
          Command.stdin("pipe"),
          Command.stdout("pipe"),
          Command.stderr("pipe")
        )
        if (options.cwd !== undefined) command = Command.workingDirectory(command, options.cwd)

        // Spawned in the session's scope; the platform's own release (SIGTERM to the process group, then an
        // unbounded wait) runs after ours below, which bounds it.
        const proc = yield* Command.start(command).pipe(
          Effect.mapError((error) => {
            const code = spawnCode(error)
            return new McpError.TransportCrashed({
              reason: new McpError.SpawnFailed({ command: commandLine, error: spawnError(error), ...(code !== undefined ? { code } : {}) }),
              transport: description,
              cause: error
            })
          })
        )
        const annotate = Effect.annotateLogs({ module: "NodeMcpTransport", method: "stdio", transport: description, pid: proc.pid })
        trackChild(proc.pid)
        // when the child started: a process that holds its PID later and started at another time is another's
        const leaderStart = startTimeOf(proc.pid)
        // runs after the shutdown finalizer below (finalizers run in reverse order)
        yield* Effect.addFinalizer(() => Effect.sync(() => liveChildren.delete(proc.pid)))

        const stderrTail: Array<string> = []
        let exitInfo: ExitStatus | undefined = undefined
        let closed = false
        const exited = yield* Deferred.make<void>()
        const outgoing = yield* Mailbox.make<Uint8Array>()
        const encoder = new TextEncoder()
        const encode = (message: JSONRPCMessage) => encoder.encode(`${JSON.stringify(message)}\n`)

        let supervised = true
        let exitFiber: Fiber.RuntimeFiber<void> | undefined = undefined
        // the signs of death so far, and the bytes read from stdout, which tell a drained pipe from a busy one
        let stdoutEnded = false
        let stderrEnded = false
        let stdinFailed = false
        let stdoutBytes = 0
        const runFork = Runtime.runFork(yield* Effect.runtime<never>())
        let drainFiber: Fiber.RuntimeFiber<void> | undefined = undefined
        const stopDrain = () => {
          drainFiber?.unsafeInterruptAsFork(FiberId.none)
          drainFiber = undefined
        }
        const report = () => {
          if (!supervised) return
          supervised = false
          stopDrain()
          // a death ends the last lines of the pipes a survivor holds open, as their end would
          if (!stdoutEnded) splitter.end()
          if (!stderrEnded) stderrLines.end()
          const info: ExitStatus = exitInfo ?? { code: null, signal: null }
          control.crash(
            new McpError.ProcessExited({ code: info.code, signal: info.signal, stderrTail: stderrTail.join("\n") }, true)
          )
        }
        // An open stdout is read while each turn of the loop brings more of what was written; an open stderr for
        // as long, and at least one turn: its tail is the report's, and a survivor may write to it at any rate.
        const drain = Effect.suspend(() => {
          const start = stdoutBytes
          const loop = (before: number): Effect.Effect<void> =>
            Effect.flatMap(loopTurn, () => {
              if (stdoutEnded || stdoutBytes === before || stdoutBytes - start > maxDrainBytes) {
                return Effect.sync(report).pipe(Effect.zipRight(Effect.suspend(() => logStderr)))
              }
              return loop(stdoutBytes)
            })
          return loop(stdoutBytes)
        })
        /**
         * A sign of death. The exit, the end of stdout and a failed write to stdin each tell that the child is
         * dead to us; the end of stderr alone does not. A child that is dying gives its exit next (a zombie
         * found at any sign has given it already: its `exit` is then not waited for, and no longer read, as
         * `Command`'s `exitCode` builds and validates an error for a signal death, on the callers' path). Then
         * what is still in the pipes is read, and the death reported: at once if both have ended.
         */
        const sign = (kind: "exit" | "stdout" | "stderr" | "stdin") => {
          if (!supervised) return
          if (kind === "stdout") stdoutEnded = true
          else if (kind === "stderr") stderrEnded = true
          else if (kind === "stdin") stdinFailed = true
          if (exitInfo === undefined) {
            const status = zombieExit(proc.pid)
            if (status !== undefined) {
              exitInfo = status
              exitFiber?.unsafeInterruptAsFork(FiberId.none)
              Deferred.unsafeDone(exited, Exit.void)
            }
          }
          if (exitInfo === undefined && (!(stdoutEnded || stdinFailed) || exiting(proc.pid, leaderStart) === true)) return
          if (stdoutEnded && stderrEnded) return report()
          drainFiber ??= runFork(drain)
        }

        // the exit: code, or the signal that killed it (unless a sign found the child dead first)
        exitFiber = yield* proc.exitCode.pipe(
          Effect.match({
            onSuccess: (code): ExitStatus => ({ code, signal: null }),
            onFailure: (error): ExitStatus => ({ code: null, signal: signalOf(error) })
          }),
          Effect.flatMap((info) =>
            Effect.sync(() => {
              exitInfo = info
            })
          ),
          Effect.zipRight(Deferred.succeed(exited, undefined)),
          Effect.zipRight(Effect.sync(() => sign("exit"))),
          Effect.forkScoped
        )

        // stdout: our own newline-delimited framing, bounded. A message over the limit is dropped as it
        // streams by, read through for the ids it carries: each request of ours it answers fails alone, and
        // each request of the server's is answered with an error, as soon as its id is known; anything but
        // an answer is an invalid line.
        let pendingInvalid: Array<string> = []
        // with `invalidLines: "crash"` the transport dies at the invalid line, in stream order: an answer
        // after it in the same chunk is not delivered (logging and counting follow the chunk)
        const invalid = (line: string) => {
          pendingInvalid.push(line)
          if (options.invalidLines === "crash") {
            control.crash(new McpError.StreamClosed({ detail: `invalid line on stdout: ${line}` }))
          }
        }
        let answered = false
        const decoder = new TextDecoder()
        const splitter: LineSplitter = new LineSplitter(maxMessageBytes, (line) => {
          if (line.trim() === "") return
          const parsed = parseMessages(line)
          if (parsed._tag === "Left") invalid(`${parsed.left}: ${excerpt(line)}`)
          else for (const message of parsed.right) control.receive(message)
        }, ({ bytes, head }) => {
          if (!answered) {
            invalid(
              `a message of ${bytes} bytes on stdout exceeded the limit of ${maxMessageBytes} bytes, and was dropped: ${
                excerpt(decoder.decode(head), 80)
              }`
            )
          }
          answered = false
        }, () => {
          const scanner = new MessageIdScanner((id) => {
            answered = true
            const detail = oversizeAnswer(id, "a message on stdout", maxMessageBytes, splitter.skippedBytes ?? 0)
            control.failRequests([id], new McpError.StreamClosed({ detail }))
          }, (id) => void outgoing.unsafeOffer(encode(oversizeRefusal(id, maxMessageBytes))))
          return (text) => scanner.push(text)
        })
        // A stream's end is a sign as soon as its last chunk has been handled: `Stream.onDone` runs before the
        // run's teardown (the reader's listeners, the pipe's destruction, the run's scope), which a caller
        // waiting on the report need not wait for. A failed stream gives its sign after the run.
        const endStdout = yield* Effect.once(Effect.sync(() => {
          splitter.end()
          sign("stdout")
        }))
        yield* proc.stdout.pipe(
          Stream.onDone(() => endStdout),
          Stream.runForEach((chunk) =>
            Effect.suspend(() => {
              stdoutBytes += chunk.length
              splitter.push(chunk)
              if (pendingInvalid.length === 0) return Effect.void
              const lines = pendingInvalid
              pendingInvalid = []
              return Effect.forEach(lines, (line) =>
                Effect.logWarning("invalid line on stdout", line).pipe(Effect.zipRight(Metric.increment(invalidCounter))), {
                  discard: true
                })
            })
          ),
          Effect.catchAllCause((cause) => Effect.logDebug("stdout failed", cause)),
          Effect.zipRight(endStdout),
          annotate,
          Effect.forkScoped
        )

        // stderr: to the logger, the last lines kept for the crash report
        let newStderr: Array<string> = []
        const keep = (line: string) => {
          stderrTail.push(line)
          if (stderrTail.length > tailLines) stderrTail.shift()
          newStderr.push(line)
        }
        const stderrLines = new LineSplitter(
          maxStderrLineBytes,
          (line) => keep(line.length > maxStderrLineChars ? `${line.slice(0, maxStderrLineChars)}…` : line),
          // dropped whole, as it streams by: the lines after it are kept as usual
          ({ bytes }) => keep(`[a stderr line of ${bytes} bytes was dropped]`)
        )
        const logStderr = Effect.suspend(() => {
          const lines = newStderr
          newStderr = []
          return Effect.forEach(lines, (line) => Effect.logWithLevel(stderrLevel, line), { discard: true })
        })
        const endStderr = yield* Effect.once(
          Effect.sync(() => stderrLines.end()).pipe(
            Effect.zipRight(logStderr),
            Effect.zipRight(Effect.sync(() => sign("stderr")))
          )
        )
        yield* proc.stderr.pipe(
          Stream.onDone(() => endStderr),
          Stream.runForEach((chunk) => Effect.suspend(() => {
            stderrLines.push(chunk)
            return logStderr
          })),
          Effect.catchAllCause(() => Effect.void),
          Effect.zipRight(endStderr),
          Effect.annotateLogs({ stream: "stderr" }),
          annotate,
          Effect.forkScoped
        )

        // stdin: one writer, fed by `send`; ending the mailbox closes the child's stdin
        yield* Mailbox.toStream(outgoing).pipe(
          Stream.run(proc.stdin),
          Effect.catchAllCause((cause) =>
            Effect.logDebug("stdin failed", cause).pipe(Effect.zipRight(Effect.sync(() => sign("stdin"))))
          ),
          annotate,
          Effect.forkScoped
        )

        // the supervisor, in plain callbacks so that no fiber hop separates the last sign from the report
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            supervised = false
            stopDrain()
          })
        )

        // closing: stdin first (the spec's polite shutdown), then SIGTERM, then SIGKILL, each bounded. The
        // platform spawns the child detached, as the leader of its own process group: the signals go to that
        // group, whether or not the child has exited, since a wrapper (`npx`, a shell) that exited or was
        // killed leaves the server it started in it. The platform's release signals the group only for a
        // running child, or one that exited with a non-zero code.
        // the members of the child's group found so far, looked at first
        const members: Array<number> = []
        const signal = (name: NodeJS.Signals) => {
          // our group is empty and its PID is another's: `-pid` would be another process group
          if (pidReused(proc.pid, leaderStart)) return
          try {
            process.kill(-proc.pid, name)
          } catch {
            // no such group (the child left it, or no process groups here): the child alone, if it runs
            if (exitInfo === undefined) {
              try {
                process.kill(proc.pid, name)
              } catch {
                // already gone
              }
            }
          }
        }
        const untilGroupEmpty: Effect.Effect<void> = Effect.suspend(() =>
          groupRunning(proc.pid, members, leaderStart) ? Effect.zipRight(groupPoll, untilGroupEmpty) : Effect.void
        )
        // the child's exit is an event; the rest of its group is sampled
        const waitGone = (grace: Duration.Duration) =>
          Deferred.await(exited).pipe(
            Effect.zipRight(untilGroupEmpty),
            Effect.timeoutOption(grace),
            Effect.map(Option.isSome)
          )
        const shutdown = Effect.gen(function*() {
          yield* outgoing.end
          if (yield* waitGone(stdinCloseGrace)) return
          signal("SIGTERM")
          if (yield* waitGone(sigtermGrace)) return
          yield* Effect.logDebug(`the child or a process it started runs ${Duration.format(sigtermGrace)} after SIGTERM: SIGKILL`)
          signal("SIGKILL")
          yield* waitGone(Duration.seconds(2))
        })
        // The waits are interruptible, so that their timeouts can cut them. An interrupt of the fiber closing
        // the scope (a resilient layer's shutdown, closing a crashed generation) reaches its children, in
        // their interruptible regions, though the finalizer itself is uninterruptible: it would cut the wait
        // at hand and skip the signals, and leave the platform's unbounded release waiting on a child that
        // ignores SIGTERM. So the sequence runs in a fiber of no parent's, joined uninterruptibly.
        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            closed = true
            return Effect.forkDaemon(Effect.interruptible(shutdown))
          }).pipe(Effect.flatMap(Fiber.join), annotate)
        )

        const connection: McpTransport.McpTransport.Connection = {
          send: (message) =>
            Effect.suspend(() =>
              closed || !outgoing.unsafeOffer(encode(message))
                ? Effect.fail(
                  new McpError.TransportCrashed({
                    reason: new McpError.Closed({ detail: "stdin is closed" }),
                    transport: description,
                    delivery: "NotDelivered"
                  })
                )
                : Effect.void
            )
        }
        return connection
      })
  })
}
