/**
 * Reading a dead child's exit status before Node reaps it (Linux: `/proc/<pid>/stat`).
 */
import { assert, describe, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import { once } from "node:events"
import { exiting, groupRunning, pidReused, startTimeOf, statFields, zombieExit } from "../src/internal/zombie.js"

/** A child that prints a line and then lives until it is killed, or exits with `code` when given one. */
const child = (code?: number) =>
  ChildProcess.spawn(process.execPath, [
    "-e",
    code === undefined ? "process.stdout.write('up\\n'); setInterval(() => {}, 1000)" : `process.exit(${code})`
  ], { stdio: ["ignore", "pipe", "ignore"] })

/**
 * The exit status read once `/proc` shows the child a zombie, and Node's own. Node reaps a child on the event
 * loop, so the loop is held (a bounded, synchronous wait) until the child is a zombie: read then, the status
 * is there whatever the load. (At the end of its stdout it may not be: the pipes close a moment before.)
 */
const asZombie = async (proc: ChildProcess.ChildProcess, kill?: NodeJS.Signals) => {
  const exited = once(proc, "exit") as Promise<[number | null, string | null]>
  if (kill !== undefined) {
    await once(proc.stdout!, "data")
    proc.kill(kill)
  }
  const pause = new Int32Array(new SharedArrayBuffer(4))
  const deadline = Date.now() + 10_000
  while (statFields(proc.pid!)?.[0] !== "Z") {
    if (Date.now() > deadline) throw new Error(`child ${proc.pid} is no zombie 10 s on`)
    Atomics.wait(pause, 0, 0, 1)
  }
  const status = zombieExit(proc.pid!)
  const [code, signal] = await exited
  return { status, node: { code, signal } }
}

describe.runIf(process.platform === "linux")("zombieExit", () => {
  it("a child killed by a signal: the signal, as Node reports it after", async () => {
    for (const signal of ["SIGKILL", "SIGTERM"] as const) {
      const { node, status } = await asZombie(child(), signal)
      assert.deepStrictEqual(node, { code: null, signal })
      assert.deepStrictEqual(status, node)
    }
  })

  it("a child that exited: its code, as Node reports it after", async () => {
    for (const code of [0, 3, 255]) {
      const { node, status } = await asZombie(child(code))
      assert.deepStrictEqual(node, { code, signal: null })
      assert.deepStrictEqual(status, node)
    }
  })

  it("a running child, a reaped child, a process that is not our child: nothing", async () => {
    const proc = child()
    await once(proc.stdout!, "data")
    assert.isUndefined(zombieExit(proc.pid!))
    proc.kill("SIGKILL")
    await once(proc, "exit")
    // Node reaped it before emitting `exit`: there is no status left to read
    assert.isUndefined(zombieExit(proc.pid!))
    assert.isUndefined(zombieExit(process.pid))
    assert.isUndefined(zombieExit(1))
  })
})

describe.runIf(process.platform === "linux")("exiting", () => {
  /** Whether the child is exiting when its stdout ends, and once Node has reaped it. */
  const atStdoutEnd = async (proc: ChildProcess.ChildProcess, kill?: NodeJS.Signals) => {
    const start = startTimeOf(proc.pid!)
    const exited = once(proc, "exit")
    const ended = new Promise<boolean | undefined>((resolve) =>
      proc.stdout!.on("end", () => resolve(exiting(proc.pid!, start))).resume()
    )
    if (kill !== undefined) {
      await once(proc.stdout!, "data")
      proc.kill(kill)
    }
    const atEnd = await ended
    if (kill === undefined) proc.kill("SIGKILL")
    await exited
    return { atEnd, reaped: exiting(proc.pid!, start) }
  }

  it("a child whose stdout ended as it died: exiting, though it may be no zombie yet", async () => {
    for (const signal of ["SIGKILL", "SIGTERM"] as const) {
      assert.deepStrictEqual(await atStdoutEnd(child(), signal), { atEnd: true, reaped: true })
    }
    assert.deepStrictEqual(await atStdoutEnd(child(3)), { atEnd: true, reaped: true })
  })

  it("a child that closed its stdout and lives on: not exiting", async () => {
    const proc = ChildProcess.spawn("sh", ["-c", "exec >&-; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] })
    assert.deepStrictEqual(await atStdoutEnd(proc), { atEnd: false, reaped: true })
  })

  it("no start time (no /proc to read it from): cannot tell", () => {
    assert.isUndefined(exiting(process.pid, undefined))
  })
})

describe.runIf(process.platform === "linux")("process groups", () => {
  it("a group is told from a later one that reused its leader's PID, by the leader's start time", async () => {
    // a group leader, as stdio's children are (spawned detached)
    const leader = ChildProcess.spawn("sleep", ["30"], { detached: true, stdio: "ignore" })
    await once(leader, "spawn")
    const pid = leader.pid!
    try {
      const start = startTimeOf(pid)
      assert.isDefined(start)
      assert.isFalse(pidReused(pid, start))
      assert.isTrue(groupRunning(pid, [], start))
      // the same PID, started at another time: another process holds it, so the group we knew is gone
      const earlier = String(Number(start) - 1)
      assert.isTrue(pidReused(pid, earlier))
      assert.isFalse(groupRunning(pid, [], earlier))
    } finally {
      leader.kill("SIGKILL")
      await once(leader, "exit")
    }
    assert.isUndefined(startTimeOf(pid))
    assert.isFalse(groupRunning(pid, [], undefined))
  })
})
