import type * as Api from "../Output.js"

/** @internal */
export const make = (options: {
  readonly out: (text: string) => void
  readonly err: (text: string) => void
  readonly isTTY: boolean
  readonly color: boolean
  readonly columns: number
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
    columns: options.columns
  }
}

/** @internal */
export const makeProcess = (): Api.Output.Service => {
  const isTTY = process.stderr.isTTY === true
  return make({
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
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
