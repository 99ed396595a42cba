import { closeSync, openSync, readSync } from "node:fs"
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
 * A child's pipes close as it dies, before Node handles its `exit`: Node's `exit` event, and `Command`'s
 * `exitCode` after it (which builds and validates an error for a signal death), wait behind everything the
 * event loop has to do about those pipes first. Reading the status here, when the pipes have ended, lets the
 * stdio transport report a death without that wait. The reaped process's PID cannot have been reused while
 * it is a zombie, and a PID reused since would have to be our own dead child too: the state and the parent
 * are both checked.
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
