/**
 * A line over the limit, dropped as it streamed by: its length and its first bytes, enough to tell what it
 * was in a log.
 *
 * @internal
 */
export interface SkippedLine {
  readonly bytes: number
  /** Its first bytes (at most `edgeBytes`). */
  readonly head: Uint8Array
}

/** How many of the first bytes of a skipped line are kept. @internal */
export const edgeBytes = 256

/** Byte arrays, in one (the only one as it is). @internal */
export const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

/** The first `edgeBytes` of parts, copying no more of them than that takes. */
const firstBytes = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const taken: Array<Uint8Array> = []
  for (let size = 0, i = 0; i < parts.length && size < edgeBytes; i++) {
    taken.push(parts[i]!)
    size += parts[i]!.length
  }
  return concat(taken).slice(0, edgeBytes)
}

/**
 * Byte-level line splitting shared by the stdio framing and the SSE parser: bytes are kept until a line
 * is complete, so a UTF-8 character split across chunks is decoded whole, and a line that grows past the
 * limit is never buffered without bound: it is dropped as it streams by (never more than the limit is
 * held) and reported to `onSkipped` when it ends; the lines after it are read as usual. Whoever needs to
 * look through such a line as it goes by (for the ids of the answers it carries) gives `watchSkipped`: it is
 * called when a line goes over the limit, and what it returns is given the whole line as text, piece by
 * piece (decoded as it streams, never held).
 *
 * @internal
 */
export class LineSplitter {
  private chunks: Array<Uint8Array> = []
  private size = 0
  private skipping:
    | { bytes: number; head: Uint8Array; watch: ((text: string) => void) | undefined; decoder: TextDecoder }
    | undefined = undefined
  private readonly decoder = new TextDecoder("utf-8")

  constructor(
    readonly maxLineBytes: number,
    readonly onLine: (line: string) => void,
    readonly onSkipped: (line: SkippedLine) => void,
    readonly watchSkipped?: () => (text: string) => void
  ) {}

  /** How many bytes of the line being skipped have been read, if one is. */
  get skippedBytes(): number | undefined {
    return this.skipping?.bytes
  }

  push(chunk: Uint8Array): void {
    let start = 0
    while (start < chunk.length) {
      const newline = chunk.indexOf(10, start)
      const end = newline === -1 ? chunk.length : newline
      const piece = chunk.subarray(start, end)
      if (this.skipping === undefined && this.size + piece.length > this.maxLineBytes) {
        // only its head is kept (never a copy of what is held, up to the limit, to cut it from); the watcher
        // is given what was held, then each piece as it comes
        const held = [...this.chunks, piece]
        const skipping = {
          bytes: this.size + piece.length,
          head: firstBytes(held),
          watch: this.watchSkipped?.(),
          decoder: new TextDecoder("utf-8")
        }
        this.skipping = skipping
        this.chunks = []
        this.size = 0
        if (skipping.watch !== undefined) for (const part of held) this.watched(skipping, part)
      } else if (this.skipping !== undefined) {
        this.skipping.bytes += piece.length
        this.watched(this.skipping, piece)
      }
      if (this.skipping !== undefined) {
        if (newline === -1) return
        this.skipped()
        start = newline + 1
        continue
      }
      if (newline === -1) {
        // keep a copy: the producer may reuse its buffer
        this.chunks.push(piece.slice())
        this.size += piece.length
        return
      }
      this.emit(piece)
      start = newline + 1
    }
  }

  /** Flushes a last line that had no newline (end of stream). */
  end(): void {
    if (this.skipping !== undefined) this.skipped()
    else if (this.size > 0) this.emit(new Uint8Array(0))
  }

  private watched(skipping: NonNullable<LineSplitter["skipping"]>, piece: Uint8Array): void {
    if (skipping.watch !== undefined && piece.length > 0) skipping.watch(skipping.decoder.decode(piece, { stream: true }))
  }

  private skipped(): void {
    const { bytes, decoder, head, watch } = this.skipping!
    // a line's `\r` before its newline is whitespace to whoever watches it (JSON, or an SSE field's value)
    if (watch !== undefined) watch(decoder.decode())
    this.skipping = undefined
    this.onSkipped({ bytes, head })
  }

  private emit(last: Uint8Array): void {
    let bytes: Uint8Array
    if (this.chunks.length === 0) {
      bytes = last
    } else {
      bytes = concat([...this.chunks, last])
      this.chunks = []
      this.size = 0
    }
    let line = this.decoder.decode(bytes)
    if (line.endsWith("\r")) line = line.slice(0, -1)
    this.onLine(line)
  }
}
