import { Cli, Output } from "@effect-mcp/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { execFile, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const fixture = fileURLToPath(new URL("./fixtures/server.mjs", import.meta.url))
export const bin = fileURLToPath(new URL("../bin/mcp-session.mjs", import.meta.url))
/** `-- node fixture`: the stdio server of these tests. */
export const stdioFixture = ["--", process.execPath, fixture] as const

export interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the command line in this process, with its output captured. */
export const runCli = (...argv: ReadonlyArray<string>): Effect.Effect<Ran> =>
  Effect.gen(function*() {
    const captured = yield* Output.capture
    const code = yield* Cli.run(argv).pipe(
      Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici, captured.layer))
    )
    return { code, stdout: captured.stdout(), stderr: captured.stderr() }
  })

/** The one JSON object `--json` prints. */
export const jsonOf = (ran: Ran): Record<string, any> => {
  const lines = ran.stdout.trim().split("\n")
  if (lines.length !== 1) throw new Error(`expected one JSON line, got:\n${ran.stdout}\nstderr:\n${ran.stderr}`)
  return JSON.parse(lines[0]!)
}

/** Runs the real executable (tsx and all), bounded. */
export const runBin = (argv: ReadonlyArray<string>, options: { readonly timeout?: number; readonly cwd?: string } = {}): Effect.Effect<Ran> =>
  Effect.async<Ran>((resume) => {
    const child = execFile(process.execPath, [bin, ...argv], {
      timeout: options.timeout ?? 60_000,
      killSignal: "SIGKILL",
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NO_COLOR: "1" },
      maxBuffer: 4 * 1024 * 1024
    }, (error, stdout, stderr) => {
      const code = child.exitCode ?? (error !== null && typeof (error as any).code === "number" ? (error as any).code : -1)
      resume(Effect.succeed({ code, stdout, stderr }))
    })
    return Effect.sync(() => void child.kill("SIGKILL"))
  })

/** A port of 127.0.0.1 that nobody listens on (it was free a moment ago). */
export const closedPort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A temporary directory, removed when the scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "mcp-session-test-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)


/** PIDs of processes whose command line contains `needle`. */
export const pidsOf = (needle: string): Array<number> => {
  let out = ""
  try {
    out = execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" })
  } catch {
    return []
  }
  return out.split("\n").flatMap((line) => {
    const match = /^\s*(\d+)\s+(.*)$/.exec(line)
    return match !== null && match[2]!.includes(needle) ? [Number(match[1])] : []
  })
}

/** PIDs of this process's children whose command line contains `needle`. */
export const childPidsOf = (needle: string): Array<number> => {
  let out = ""
  try {
    out = execFileSync("ps", ["-eo", "pid=,ppid=,args="], { encoding: "utf8" })
  } catch {
    return []
  }
  return out.split("\n").flatMap((line) => {
    const match = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line)
    return match !== null && Number(match[2]) === process.pid && match[3]!.includes(needle) ? [Number(match[1])] : []
  })
}

/** SIGKILL by PID, if it still runs. */
export const killPid = (pid: number): void => {
  try {
    process.kill(pid, "SIGKILL")
  } catch {
    // already gone
  }
}

/** The real executable with its stdout and stderr as pipes the test reads itself; killed by PID when the scope closes. */
export const spawnBin = (argv: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, [bin, ...argv], {
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stderr = ""
      child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString()))
      const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)))
      return {
        child,
        stderr: () => stderr,
        /** The exit code (or signal), bounded. */
        exit: (within: Duration.DurationInput) =>
          Effect.promise(() => exited).pipe(
            Effect.timeoutFail({ duration: within, onTimeout: () => new Error(`still running after ${Duration.format(within)}: ${stderr}`) }),
            Effect.orDie
          )
      }
    }),
    ({ child }) => Effect.sync(() => void (child.pid !== undefined && child.exitCode === null && child.signalCode === null && killPid(child.pid)))
  )

/** Polls `condition` every 20 ms until it holds, bounded. */
export const until = (condition: () => boolean, within: Duration.DurationInput, what: string): Effect.Effect<void> =>
  Effect.suspend(() => (condition() ? Effect.void : Effect.fail("not yet"))).pipe(
    Effect.retry(Schedule.spaced("20 millis")),
    Effect.timeoutFail({ duration: within, onTimeout: () => new Error(`${what}: not within ${Duration.format(within)}`) }),
    Effect.orDie
  )
