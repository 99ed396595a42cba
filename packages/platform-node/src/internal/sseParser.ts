import type { RequestId } from "@modelcontextprotocol/sdk/types.js"
import { edgeBytes, LineSplitter } from "./lines.js"
import { MessageIdScanner } from "./messages.js"

/**
 * One Server-Sent Event.
 *
 * @internal
 */
export interface SseEvent {
  readonly event: string
  readonly data: string
  /**
   * Whether it had a `data` field. One without is not an event by the WHATWG rules (it is not dispatched);
   * it is told here only for its `id`, which a resumption needs.
   */
  readonly hasData: boolean
  /** The `id` field of this event, if it had one. */
  readonly id: string | undefined
}

/**
 * An event whose data was over the limit: dropped as it streamed by, with what is needed to tell of it (the
 * first characters of its data), its `id` field, which the stream has moved past, and whether it was read
 * as the answer to a request (already told to `onOversizeAnswer`).
 *
 * @internal
 */
export interface OversizeEvent {
  /** How many bytes its data had. */
  readonly bytes: number
  readonly head: string
  readonly id: string | undefined
  readonly answered: boolean
}

const decoder = new TextDecoder()

/** A text's length in UTF-8 bytes, which the limits count. */
const utf8Bytes = (text: string): number => Buffer.byteLength(text, "utf8")

/**
 * What an {@link SseParser} tells.
 *
 * @internal
 */
export interface SseHandlers {
  readonly onEvent: (event: SseEvent) => void
  readonly onOversize: (event: OversizeEvent) => void
  /**
   * The `message` event being dropped is the answer to request `id` (`bytes` of its data read so far): told
   * as soon as its id is read, which for a server that writes the id first is long before the event ends.
   */
  readonly onOversizeAnswer?: ((id: RequestId, bytes: number) => void) | undefined
  /** The `message` event being dropped is the server's request `id`: told as soon as its id is read. */
  readonly onOversizeRequest?: ((id: RequestId) => void) | undefined
  /** The stream's reconnection time, each time a `retry` field sets it (ASCII digits only, in ms). */
  readonly onRetry?: ((millis: number) => void) | undefined
}

/** The current event's data, over the limit: read through for ids instead of kept. */
interface Dropped {
  bytes: number
  /** The first `edgeBytes` characters of its data. */
  head: string
  readonly scanner: MessageIdScanner
  /** How many of its data lines have been fed (they are joined by newlines, as an event's data is). */
  lines: number
  answered: boolean
}

/**
 * A minimal Server-Sent Events parser (WHATWG "event stream interpretation"), over bytes. It exists so the
 * transports see every event id and the exact end of a stream, which the SDK's parser keeps to itself.
 *
 * An event whose data grows past `maxEventBytes` is never held whole: it is read through as it streams by
 * for the answers and the server's requests it carries, reported to `onOversize` when it ends, and the
 * events after it are read as usual.
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
  private dropped: Dropped | undefined = undefined

  constructor(readonly maxEventBytes: number, readonly handlers: SseHandlers) {
    this.lines = new LineSplitter(maxEventBytes, (line) => this.line(line), ({ bytes, head }) => {
      // a single line over the limit: only a `data` line matters (the others carry nothing we use)
      if (decoder.decode(head).startsWith("data:")) this.dropping().bytes += bytes
    }, () => {
      // the line's text as it streams: once it is known to be a `data` line, its value is the event's data
      let state: "prefix" | "data" | "other" = "prefix"
      let prefix = ""
      return (text) => {
        if (state === "data") return this.feed(text)
        if (state === "other") return
        prefix += text
        if (prefix.length < 5) return
        if (!prefix.startsWith("data:")) return void (state = "other")
        state = "data"
        this.dropping()
        this.startLine()
        this.feed(prefix.slice(prefix.startsWith("data: ") ? 6 : 5))
      }
    }, true)
  }

  push(chunk: Uint8Array): void {
    this.lines.push(chunk)
  }

  /** The current event's data is over the limit: from now on it is read through, not kept. */
  private dropping(): Dropped {
    if (this.dropped !== undefined) return this.dropped
    const dropped: Dropped = {
      bytes: this.dataBytes,
      head: "",
      lines: 0,
      answered: false,
      scanner: new MessageIdScanner((id) => {
        if (!this.isMessageEvent()) return
        dropped.answered = true
        this.handlers.onOversizeAnswer?.(id, dropped.bytes + (this.lines.skippedBytes ?? 0))
      }, (id) => {
        if (this.isMessageEvent()) this.handlers.onOversizeRequest?.(id)
      })
    }
    this.dropped = dropped
    this.hasFields = true
    const held = this.data
    this.data = []
    this.dataBytes = 0
    for (const line of held) {
      this.startLine()
      this.feed(line)
    }
    return dropped
  }

  /** Whether the current event is a `message` (so far: its `event` field may still come after its data). */
  private isMessageEvent(): boolean {
    return this.event === "" || this.event === "message"
  }

  /** A data line of the dropped event begins: the newline that joins it to the one before, if any. */
  private startLine(): void {
    if (this.dropped!.lines++ > 0) this.feed("\n")
  }

  private feed(text: string): void {
    const dropped = this.dropped!
    if (dropped.head.length < edgeBytes) dropped.head += text.slice(0, edgeBytes - dropped.head.length)
    dropped.scanner.push(text)
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
        // in bytes, with the newline that joins it to the line before
        const bytes = utf8Bytes(value) + (this.data.length > 0 || (this.dropped?.lines ?? 0) > 0 ? 1 : 0)
        if (this.dropped !== undefined || this.dataBytes + bytes > this.maxEventBytes) {
          this.dropping().bytes += bytes
          this.startLine()
          this.feed(value)
          return
        }
        this.dataBytes += bytes
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
        if (/^\d+$/.test(value)) this.handlers.onRetry?.(Number(value))
        break
      default:
        break
    }
  }

  private dispatch(): void {
    if (!this.hasFields) return
    const dropped = this.dropped
    const event: SseEvent = {
      event: this.event === "" ? "message" : this.event,
      data: this.data.join("\n"),
      hasData: this.data.length > 0,
      id: this.id
    }
    this.data = []
    this.dataBytes = 0
    this.event = ""
    this.id = undefined
    this.hasFields = false
    this.dropped = undefined
    if (dropped !== undefined) {
      this.handlers.onOversize({ bytes: dropped.bytes, head: dropped.head, id: event.id, answered: dropped.answered })
    } else this.handlers.onEvent(event)
  }
}
