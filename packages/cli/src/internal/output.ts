import * as Effect from "effect/Effect"
import type * as Api from "../Output.js"

/** @internal */
export const make = (options: {
  readonly out: (text: string) => void
  readonly err: (text: string) => void
  readonly isTTY: boolean
  readonly color: boolean
  readonly columns: number
  readonly closed?: Effect.Effect<void> | undefined
}): Api.Output.Service => {
  let transientShown = false
  const clear = () => {
    if (transientShown) {
      options.err("\r\x1b[2K")
      transientShown = false
    }
  }
  return {
    stdout: (line) => {
      clear()
      options.out(`${line}\n`)
    },
    stderr: (line) => {
      clear()
      options.err(`${line}\n`)
    },
    transient: (line) => {
      if (!options.isTTY) return
      options.err(`\r\x1b[2K${line}`)
      transientShown = true
    },
    isTTY: options.isTTY,
    color: options.color,
    columns: options.columns,
    closed: options.closed ?? Effect.never
  }
}

/**
 * Writes to `stream` until it fails: once the reader has gone away (EPIPE, as with `| head -1`), what is
 * left to write is dropped, quietly, instead of an unhandled 'error' event crashing the process.
 */
const writer = (stream: NodeJS.WriteStream) => {
  let failed = false
  const waiting = new Set<() => void>()
  stream.on("error", () => {
    failed = true
    for (const wake of waiting) wake()
    waiting.clear()
  })
  return {
    write: (text: string) => {
      if (!failed && !stream.destroyed) stream.write(text)
    },
    closed: Effect.async<void>((resume) => {
      if (failed) return resume(Effect.void)
      const wake = () => resume(Effect.void)
      waiting.add(wake)
      return Effect.sync(() => void waiting.delete(wake))
    })
  }
}

/** @internal */
export const makeProcess = (): Api.Output.Service => {
  const isTTY = process.stderr.isTTY === true
  const out = writer(process.stdout)
  const err = writer(process.stderr)
  return make({
    out: out.write,
    err: err.write,
    closed: out.closed,
    isTTY,
    color: isTTY && process.env.NO_COLOR === undefined,
    columns: process.stderr.columns !== undefined && process.stderr.columns > 20 ? process.stderr.columns : 100
  })
}

/** @internal */
export const makeCapture = (): { readonly service: Api.Output.Service; readonly stdout: () => string; readonly stderr: () => string } => {
  let out = ""
  let err = ""
  const service = make({
    out: (text) => void (out += text),
    err: (text) => void (err += text),
    isTTY: false,
    color: false,
    columns: 100
  })
  return { service, stdout: () => out, stderr: () => err }
}
