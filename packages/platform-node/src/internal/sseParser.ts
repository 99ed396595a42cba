import { LineSplitter } from "./lines.js"

/**
 * One Server-Sent Event.
 *
 * @internal
 */
export interface SseEvent {
  readonly event: string
  readonly data: string
  /** The `id` field of this event, if it had one. */
  readonly id: string | undefined
}

/**
 * A minimal Server-Sent Events parser (WHATWG "event stream interpretation"), over bytes. It exists so the
 * transports see every event id and the exact end of a stream, which the SDK's parser keeps to itself.
 *
 * @internal
 */
export class SseParser {
  private readonly lines: LineSplitter
  private data: Array<string> = []
  private dataBytes = 0
  private event = ""
  private id: string | undefined = undefined
  private hasFields = false
  oversize = false

  constructor(
    readonly maxEventBytes: number,
    readonly onEvent: (event: SseEvent) => void,
    readonly onOversize: (bytes: number) => void,
    /** The stream's reconnection time, each time a `retry` field sets it (ASCII digits only, in ms). */
    readonly onRetry: (millis: number) => void = () => {}
  ) {
    this.lines = new LineSplitter(maxEventBytes, (line) => this.line(line), (bytes) => {
      this.oversize = true
      onOversize(bytes)
    })
  }

  push(chunk: Uint8Array): boolean {
    return !this.oversize && this.lines.push(chunk)
  }

  private line(line: string): void {
    if (this.oversize) return
    if (line === "") return this.dispatch()
    if (line.startsWith(":")) return
    const colon = line.indexOf(":")
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? "" : line.slice(colon + 1)
    if (value.startsWith(" ")) value = value.slice(1)
    switch (field) {
      case "data": {
        this.dataBytes += value.length
        if (this.dataBytes > this.maxEventBytes) {
          this.oversize = true
          this.onOversize(this.dataBytes)
          return
        }
        this.data.push(value)
        this.hasFields = true
        break
      }
      case "event":
        this.event = value
        this.hasFields = true
        break
      case "id":
        if (!value.includes("\u0000")) {
          this.id = value
          this.hasFields = true
        }
        break
      case "retry":
        if (/^\d+$/.test(value)) this.onRetry(Number(value))
        break
      default:
        break
    }
  }

  private dispatch(): void {
    if (!this.hasFields) return
    const event: SseEvent = { event: this.event === "" ? "message" : this.event, data: this.data.join("\n"), id: this.id }
    this.data = []
    this.dataBytes = 0
    this.event = ""
    this.id = undefined
    this.hasFields = false
    this.onEvent(event)
  }
}
