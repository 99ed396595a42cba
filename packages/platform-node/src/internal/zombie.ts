import { closeSync, openSync, readdirSync, readSync } from "node:fs"
import { constants } from "node:os"

/** How a child process ended: its exit code, or the signal that killed it. */
export interface ExitStatus {
  readonly code: number | null
  readonly signal: string | null
}

/** `/proc/<pid>/stat` is a line of 52 numbers and a name of at most 64 bytes: well under 1 KiB. */
const buffer = Buffer.alloc(1024)
const signalNames = new Map(Object.entries(constants.signals).map(([name, number]) => [number as number, name]))

/**
 * The fields of `/proc/<pid>/stat` (Linux) from the 3rd on (state, ppid, pgrp, …), or `undefined`: no such
 * process, or no such file. One bounded, synchronous read.
 *
 * @internal
 */
export const statFields = (pid: number): Array<string> | undefined => {
  let stat: string
  try {
    const fd = openSync(`/proc/${pid}/stat`, "r")
    try {
      const bytes = readSync(fd, buffer, 0, buffer.length, 0)
      stat = buffer.toString("latin1", 0, bytes)
    } finally {
      closeSync(fd)
    }
  } catch {
    return undefined
  }
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, the fields after the last ")" do not
  return stat.slice(stat.lastIndexOf(")") + 2).trimEnd().split(" ")
}

/**
 * The exit status of a child of this process that has died but has not been reaped yet (a zombie), read
 * from `/proc/<pid>/stat` (Linux 3.5 and later), or `undefined`: the process is running, or already reaped,
 * or not a child of this process, or the platform has no such file.
 *
 * A child's pipes close as it dies, before Node handles its `exit`: Node's `exit` event waits behind
 * everything the event loop has to do about those pipes first. Reading the status here, when the pipes have ended, lets the
 * stdio transport report a death without that wait. The pipes close a moment before the child becomes a
 * zombie, though: read at their end, the status may not be there yet, and the caller then waits for the
 * exit. The reaped process's PID cannot have been reused while it is a zombie, and a PID reused since would
 * have to be our own dead child too: the state and the parent are both checked.
 *
 * @internal
 */
export const zombieExit = (pid: number): ExitStatus | undefined => {
  if (process.platform !== "linux") return undefined
  // fields[0] is the 3rd field (state), fields[1] the 4th (ppid), fields[49] the 52nd (exit_code, as
  // waitpid(2) reports it)
  const fields = statFields(pid)
  if (fields === undefined || fields[0] !== "Z" || Number(fields[1]) !== process.pid || fields.length < 50) return undefined
  const status = Number(fields[49])
  if (!Number.isInteger(status) || status < 0) return undefined
  const signal = status & 0x7f
  if (signal === 0) return { code: (status >> 8) & 0xff, signal: null }
  return { code: null, signal: signalNames.get(signal) ?? `signal ${signal}` }
}

/** `PF_EXITING` in `/proc/<pid>/stat`'s flags (the 9th field): set as a task begins to exit. */
const exitingFlag = 0x4

/**
 * Whether our child `pid`, started at `leaderStart` (`startTimeOf`), has begun to die: it is exiting, a
 * zombie, or already reaped (its PID gone, or another process's). A child sets `PF_EXITING` before it
 * releases its files, so a child whose pipes have ended and that is not exiting lives on. `undefined` when
 * `/proc` cannot tell (not Linux).
 *
 * @internal
 */
export const exiting = (pid: number, leaderStart: string | undefined): boolean | undefined => {
  if (process.platform !== "linux" || leaderStart === undefined) return undefined
  const fields = statFields(pid)
  if (fields === undefined || Number(fields[1]) !== process.pid || fields[19] !== leaderStart) return true
  return fields[0] === "Z" || fields[0] === "X" || (Number(fields[6]) & exitingFlag) !== 0
}

/**
 * When a process started (`/proc/<pid>/stat`'s 22nd field, in clock ticks since boot), or `undefined`: no
 * such process, or not Linux. With the PID, it names a process for good: a PID is reused, not with the same
 * start time.
 *
 * @internal
 */
export const startTimeOf = (pid: number): string | undefined =>
  process.platform === "linux" ? statFields(pid)?.[19] : undefined

/**
 * Whether `pid` now names another process than the one that started at `leaderStart`. A PID is reused only
 * once no process uses it, as its PID or as its group's: then the group it led is empty, and `-pid` would be
 * another's group.
 *
 * @internal
 */
export const pidReused = (pid: number, leaderStart: string | undefined): boolean => {
  if (leaderStart === undefined) return false
  const holder = startTimeOf(pid)
  return holder !== undefined && holder !== leaderStart
}

/**
 * Whether a process of the group led by `pid` still runs. A PGID stays reserved while any member lives, even
 * once its leader has exited and been reaped, so `kill(-pid, 0)` answers for the group until it is empty;
 * but a zombie counts as a member, and an orphan killed by our signal waits for PID 1 (or a subreaper) to
 * reap it, which some (a container's init) do late or never. On Linux a group that `kill` finds is therefore
 * looked for in `/proc`, zombies aside: first among the members found before (`known`), then everywhere.
 * `leaderStart` is the leader's start time (`startTimeOf`), which tells its group from a later one that
 * reused its PID.
 *
 * @internal
 */
export const groupRunning = (pid: number, known: Array<number>, leaderStart: string | undefined): boolean => {
  if (pidReused(pid, leaderStart)) return false
  try {
    process.kill(-pid, 0)
  } catch {
    return false
  }
  if (process.platform !== "linux") return true
  // the state, and the process group (pgrp, the 5th field)
  const running = (member: number) => {
    const fields = statFields(member)
    return fields !== undefined && Number(fields[2]) === pid && fields[0] !== "Z" && fields[0] !== "X"
  }
  if (known.some(running)) return true
  let entries: Array<string>
  try {
    entries = readdirSync("/proc")
  } catch {
    return true
  }
  known.length = 0
  for (const entry of entries) {
    const member = Number(entry)
    if (Number.isInteger(member) && running(member)) known.push(member)
  }
  return known.length > 0
}
