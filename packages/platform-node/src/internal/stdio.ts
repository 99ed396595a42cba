import { McpError, McpTransport } from "@effect-mcp/session"
import { getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { accessSync } from "node:fs"
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

const quote = (arg: string): string => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)

const noop = () => {}

/** @internal */
export const stdio = (options: Api.StdioOptions): McpTransport.McpTransport => {
  const args = options.args ?? []
  const commandLine = [options.command, ...args].map(quote).join(" ")
  const description = options.description ?? `stdio: ${commandLine}`
  const maxMessageBytes = options.maxMessageBytes ?? defaultMaxMessageBytes
  const tailLines = options.stderrTailLines ?? 20
  const stderrLevel = options.stderrLogLevel ?? LogLevel.Debug
  const stdinCloseGrace = Duration.decode(options.stdinCloseGrace ?? "100 millis")
  const sigtermGrace = Duration.decode(options.sigtermGrace ?? "2 seconds")
  const invalidCounter = Metric.tagged(invalidLines, "transport", description)

  const spawnFailed = (error: unknown) => {
    const code = (error as { code?: unknown } | undefined)?.code
    return new McpError.TransportCrashed({
      reason: new McpError.SpawnFailed({
        command: commandLine,
        error: error instanceof Error ? error.message : String(error),
        ...(typeof code === "string" ? { code } : {})
      }),
      transport: description,
      cause: error
    })
  }

  return McpTransport.make<never>({
    description,
    open: (control) =>
      Effect.gen(function*() {
        const env: Record<string, string | undefined> = options.inheritEnv === true
          ? { ...process.env, ...options.env }
          : { ...getDefaultEnvironment(), ...options.env }
        // The callbacks below run on Node's events, outside any fiber: what they log goes through the
        // runtime of the fiber that opened the transport (its logger, its level, its annotations).
        const runtime = yield* Effect.runtime<never>()
        const runSync = Runtime.runSync(runtime)
        const logsStderr = !LogLevel.greaterThan(
          FiberRefs.getOrDefault(runtime.fiberRefs, FiberRef.currentMinimumLogLevel),
          stderrLevel
        )
        let annotations: Record<string, unknown> = { module: "NodeMcpTransport", method: "stdio", transport: description }
        const log = (effect: Effect.Effect<void>) => {
          try {
            runSync(Effect.annotateLogs(effect, annotations))
          } catch {
            // a logger that throws does not break the read path
          }
        }

        let child!: ChildProcessWithoutNullStreams
        let pid = 0
        // when the child started: a process that holds its PID later and started at another time is another's
        let leaderStart: string | undefined = undefined
        const stderrTail: Array<string> = []
        let exitInfo: ExitStatus | undefined = undefined
        // Node's `exit`: the child is reaped, its PID no longer ours
        const exited = yield* Deferred.make<void>()
        // `supervised` from the spawn to the report (or the close); `closed` from the close on
        let supervised = false
        let closed = false
        // the signs of death so far, and the bytes read from stdout, which tell a drained pipe from a busy one
        let stdoutEnded = false
        let stderrEnded = false
        let stdinFailed = false
        let stdoutBytes = 0

        const write = (message: JSONRPCMessage): boolean => {
          if (closed || stdinFailed || !child.stdin.writable) return false
          child.stdin.write(`${JSON.stringify(message)}\n`)
          return true
        }

        let drainTimer: NodeJS.Immediate | undefined = undefined
        const stopDrain = () => {
          if (drainTimer !== undefined) clearImmediate(drainTimer)
          drainTimer = undefined
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
          flushInvalid()
          logStderr()
        }
        /**
         * An open stdout is read while each turn of the event loop brings more of what was written; an open
         * stderr for as long, and at least one turn: its tail is the report's, and a survivor may write to it at
         * any rate. A turn is a poll phase, which reads every pipe that has data (its `data` events run then):
         * the second immediate is queued in a check phase, so it runs in the next turn, after its poll phase.
         */
        const drain = () => {
          const start = stdoutBytes
          let before = stdoutBytes
          const turn = () => {
            drainTimer = setImmediate(() => {
              drainTimer = setImmediate(() => {
                drainTimer = undefined
                if (stdoutEnded || stdoutBytes === before || stdoutBytes - start > maxDrainBytes) return report()
                before = stdoutBytes
                turn()
              })
            })
          }
          turn()
        }
        /**
         * A sign of death. The exit, the end of stdout and a failed write to stdin each tell that the child is
         * dead to us; the end of stderr alone does not. A child that is dying gives its exit next (a zombie
         * found at any sign has given it already: its `exit` event, which Node emits only once it has handled
         * the pipes, is then not waited for). Then what is still in the pipes is read, and the death reported:
         * at once if both have ended.
         */
        const sign = (kind: "exit" | "stdout" | "stderr" | "stdin") => {
          if (!supervised) return
          if (kind === "stdout") stdoutEnded = true
          else if (kind === "stderr") stderrEnded = true
          else if (kind === "stdin") stdinFailed = true
          if (exitInfo === undefined) {
            const status = zombieExit(pid)
            if (status !== undefined) exitInfo = status
          }
          if (exitInfo === undefined && (!(stdoutEnded || stdinFailed) || exiting(pid, leaderStart) === true)) return
          if (stdoutEnded && stderrEnded) return report()
          if (drainTimer === undefined) drain()
        }

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
        const flushInvalid = () => {
          if (pendingInvalid.length === 0) return
          const lines = pendingInvalid
          pendingInvalid = []
          log(Effect.forEach(
            lines,
            (line) => Effect.logWarning("invalid line on stdout", line).pipe(Effect.zipRight(Metric.increment(invalidCounter))),
            { discard: true }
          ))
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
          }, (id) => void write(oversizeRefusal(id, maxMessageBytes)))
          return (text) => scanner.push(text)
        })
        // a Buffer's `slice` is a view: the splitter copies what it keeps with `slice`, as of a Uint8Array
        const onStdout = (chunk: Buffer) => {
          stdoutBytes += chunk.length
          splitter.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))
          flushInvalid()
        }
        let stdoutDone = false
        const onStdoutEnd = () => {
          if (stdoutDone) return
          stdoutDone = true
          splitter.end()
          flushInvalid()
          sign("stdout")
        }
        const onStdoutError = (error: Error) => {
          log(Effect.logDebug("stdout failed", error))
          onStdoutEnd()
        }

        // stderr: to the logger, the last lines kept for the crash report
        let newStderr: Array<string> = []
        const keep = (line: string) => {
          stderrTail.push(line)
          if (stderrTail.length > tailLines) stderrTail.shift()
          if (logsStderr) newStderr.push(line)
        }
        const stderrLines = new LineSplitter(
          maxStderrLineBytes,
          (line) => keep(line.length > maxStderrLineChars ? `${line.slice(0, maxStderrLineChars)}…` : line),
          // dropped whole, as it streams by: the lines after it are kept as usual
          ({ bytes }) => keep(`[a stderr line of ${bytes} bytes was dropped]`)
        )
        const logStderr = () => {
          if (newStderr.length === 0) return
          const lines = newStderr
          newStderr = []
          log(Effect.annotateLogs(
            Effect.forEach(lines, (line) => Effect.logWithLevel(stderrLevel, line), { discard: true }),
            "stream",
            "stderr"
          ))
        }
        const onStderr = (chunk: Buffer) => {
          stderrLines.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))
          logStderr()
        }
        let stderrDone = false
        const onStderrEnd = () => {
          if (stderrDone) return
          stderrDone = true
          stderrLines.end()
          logStderr()
          sign("stderr")
        }

        const onStdinError = (error: Error) => {
          log(Effect.logDebug("stdin failed", error))
          sign("stdin")
        }
        // the exit: its code, or the signal that killed it (unless a sign found the child dead first)
        const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
          exitInfo ??= { code, signal }
          Deferred.unsafeDone(exited, Exit.void)
          sign("exit")
        }
        // after the spawn, only a failed `kill` of Node's would emit this: we signal with `process.kill`
        const onChildError = (error: Error) => log(Effect.logDebug("child process error", error))

        const listen = () => {
          child.on("exit", onExit)
          child.on("error", onChildError)
          child.stdout.on("data", onStdout).on("end", onStdoutEnd).on("error", onStdoutError)
          child.stderr.on("data", onStderr).on("end", onStderrEnd).on("error", onStderrEnd)
          child.stdin.on("error", onStdinError)
        }
        /** What is left of the child once its close has run: no listener of ours, no pipe of its. */
        const release = () => {
          supervised = false
          stopDrain()
          child.off("exit", onExit).off("error", onChildError).on("error", noop)
          // (a spawn that failed for want of descriptors has no pipes)
          child.stdout?.off("data", onStdout).off("end", onStdoutEnd).off("error", onStdoutError)
          child.stderr?.off("data", onStderr).off("end", onStderrEnd).off("error", onStderrEnd)
          child.stdin?.off("error", onStdinError)
          // a pipe that a process the child started holds open would stay open otherwise
          for (const pipe of [child.stdin, child.stdout, child.stderr]) pipe?.on("error", noop).destroy()
          liveChildren.delete(pid)
        }

        // Node emits `spawn`, or `error` for a command that cannot start (ENOENT, EACCES), on the next tick:
        // every listener is in place by then, so no event of the child's is missed.
        const spawned = Effect.async<void, McpError.TransportCrashed>((resume) => {
          if (options.cwd !== undefined) {
            try {
              accessSync(options.cwd)
            } catch (error) {
              return resume(Effect.fail(spawnFailed(error)))
            }
          }
          try {
            child = spawn(options.command, args, {
              env,
              ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
              // the child leads its own process group: the close signals the processes it starts too
              detached: process.platform !== "win32",
              stdio: ["pipe", "pipe", "pipe"]
            })
          } catch (error) {
            return resume(Effect.fail(spawnFailed(error)))
          }
          const onSpawn = () => {
            child.off("error", onSpawnError)
            resume(Effect.void)
          }
          const onSpawnError = (error: Error) => {
            child.off("spawn", onSpawn)
            release()
            resume(Effect.fail(spawnFailed(error)))
          }
          child.once("spawn", onSpawn)
          child.once("error", onSpawnError)
          if (child.pid === undefined) return
          pid = child.pid
          leaderStart = startTimeOf(pid)
          annotations = { ...annotations, pid }
          trackChild(pid)
          supervised = true
          listen()
        })

        // closing: stdin first (the spec's polite shutdown), then SIGTERM, then SIGKILL, each bounded. The
        // child leads its own process group: the signals go to that group, whether or not the child has
        // exited, since a wrapper (`npx`, a shell) that exited or was killed leaves the server it started in it.
        // the members of the child's group found so far, looked at first
        const members: Array<number> = []
        const signal = (name: NodeJS.Signals) => {
          // our group is empty and its PID is another's: `-pid` would be another process group
          if (pidReused(pid, leaderStart)) return
          try {
            process.kill(-pid, name)
          } catch {
            // no such group (the child left it, or no process groups here): the child alone, if it runs
            if (exitInfo === undefined) {
              try {
                process.kill(pid, name)
              } catch {
                // already gone
              }
            }
          }
        }
        const untilGroupEmpty: Effect.Effect<void> = Effect.suspend(() =>
          groupRunning(pid, members, leaderStart) ? Effect.zipRight(groupPoll, untilGroupEmpty) : Effect.void
        )
        // the child's exit is an event; the rest of its group is sampled
        const waitGone = (grace: Duration.Duration) =>
          Deferred.await(exited).pipe(
            Effect.zipRight(untilGroupEmpty),
            Effect.timeoutOption(grace),
            Effect.map(Option.isSome)
          )
        const shutdown = Effect.gen(function*() {
          yield* Effect.sync(() => child.stdin.end())
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
        // at hand and skip the signals. So the sequence runs in a fiber of no parent's, joined uninterruptibly.
        const close = Effect.suspend(() => {
          closed = true
          return Effect.forkDaemon(Effect.interruptible(Effect.annotateLogs(shutdown, annotations)))
        }).pipe(Effect.flatMap(Fiber.join), Effect.ensuring(Effect.sync(release)))
        // spawned in the session's scope, uninterruptibly: the close is in place as soon as there is a child
        yield* Effect.acquireRelease(spawned, () => close)

        const connection: McpTransport.McpTransport.Connection = {
          send: (message) =>
            Effect.suspend(() =>
              write(message) ? Effect.void : Effect.fail(
                new McpError.TransportCrashed({
                  reason: new McpError.Closed({ detail: "stdin is closed" }),
                  transport: description,
                  delivery: "NotDelivered"
                })
              )
            )
        }
        return connection
      })
  })
}
