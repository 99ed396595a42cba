import { edgeBytes, LineSplitter } from "./lines.js"

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
 * An event whose data was over the limit: dropped as it streamed by, with what is needed to tell what it
 * was (the first and last characters of its data) and its `id` field, which the stream has moved past.
 *
 * @internal
 */
export interface OversizeEvent {
  /** At least how many bytes its data had when it was dropped. */
  readonly bytes: number
  readonly head: string
  readonly tail: string
  readonly id: string | undefined
}

const decoder = new TextDecoder()

/**
 * A minimal Server-Sent Events parser (WHATWG "event stream interpretation"), over bytes. It exists so the
 * transports see every event id and the exact end of a stream, which the SDK's parser keeps to itself.
 *
 * An event whose data grows past `maxEventBytes` is never held whole: it is reported to `onOversize` when
 * it ends, and the events after it are read as usual.
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
  /** The current event's data went over the limit: its edges, kept instead of its data. */
  private dropped: { bytes: number; head: string; tail: string } | undefined = undefined

  constructor(
    readonly maxEventBytes: number,
    readonly onEvent: (event: SseEvent) => void,
    readonly onOversize: (event: OversizeEvent) => void,
    /** The stream's reconnection time, each time a `retry` field sets it (ASCII digits only, in ms). */
    readonly onRetry: (millis: number) => void = () => {}
  ) {
    this.lines = new LineSplitter(maxEventBytes, (line) => this.line(line), ({ bytes, head, tail }) => {
      // a single line over the limit: only a `data` line matters (the others carry nothing we use)
      const text = decoder.decode(head)
      if (!text.startsWith("data:")) return
      const value = text.slice(text.startsWith("data: ") ? 6 : 5)
      this.drop(bytes, value, decoder.decode(tail))
    })
  }

  push(chunk: Uint8Array): void {
    this.lines.push(chunk)
  }

  /** The current event's data is over the limit: keep its edges only. */
  private drop(bytes: number, head: string, tail: string): void {
    if (this.dropped === undefined) {
      const held = this.data.join("\n")
      this.dropped = { bytes: this.dataBytes + bytes, head: (held === "" ? head : held).slice(0, edgeBytes), tail }
      this.data = []
    } else {
      this.dropped.bytes += bytes
      this.dropped.tail = tail
    }
    this.hasFields = true
  }

  private line(line: string): void {
    if (line === "") return this.dispatch()
    if (line.startsWith(":")) return
    const colon = line.indexOf(":")
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? "" : line.slice(colon + 1)
    if (value.startsWith(" ")) value = value.slice(1)
    switch (field) {
      case "data": {
        if (this.dropped !== undefined || this.dataBytes + value.length > this.maxEventBytes) {
          this.drop(value.length, value, value.slice(-edgeBytes))
          return
        }
        this.dataBytes += value.length
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
    const dropped = this.dropped
    const event: SseEvent = { event: this.event === "" ? "message" : this.event, data: this.data.join("\n"), id: this.id }
    this.data = []
    this.dataBytes = 0
    this.event = ""
    this.id = undefined
    this.hasFields = false
    this.dropped = undefined
    if (dropped !== undefined) this.onOversize({ ...dropped, id: event.id })
    else this.onEvent(event)
  }
}
