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
 * A line ends at a LF (a `\r` before it is dropped): the stdio framing, newline-delimited JSON. With
 * `crEndsLines` (Server-Sent Events), a lone CR ends a line too, and a CRLF ends one line, even when its CR
 * ends one chunk and its LF begins the next.
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
  /** The last line ended with a CR at the end of a chunk: a LF that begins the next one belongs to it. */
  private afterCr = false

  constructor(
    readonly maxLineBytes: number,
    readonly onLine: (line: string) => void,
    readonly onSkipped: (line: SkippedLine) => void,
    readonly watchSkipped?: () => (text: string) => void,
    readonly crEndsLines = false
  ) {}

  /** How many bytes of the line being skipped have been read, if one is. */
  get skippedBytes(): number | undefined {
    return this.skipping?.bytes
  }

  push(chunk: Uint8Array): void {
    let start = 0
    if (this.afterCr && chunk.length > 0) {
      this.afterCr = false
      if (chunk[0] === 10) start = 1
    }
    // the next LF and CR at or after `start`, each searched for again only once passed: a chunk of many
    // lines is scanned once, whichever of the two ends them
    let lf = chunk.indexOf(10, start)
    let cr = this.crEndsLines ? chunk.indexOf(13, start) : -1
    while (start < chunk.length) {
      if (lf !== -1 && lf < start) lf = chunk.indexOf(10, start)
      if (cr !== -1 && cr < start) cr = chunk.indexOf(13, start)
      const newline = cr === -1 ? lf : lf === -1 ? cr : Math.min(lf, cr)
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
        start = this.nextLine(chunk, newline)
        continue
      }
      if (newline === -1) {
        // keep a copy: the producer may reuse its buffer
        this.chunks.push(piece.slice())
        this.size += piece.length
        return
      }
      this.emit(piece)
      start = this.nextLine(chunk, newline)
    }
  }

  /** Where the line after the one ended at `newline` begins: past its LF too, if a CR ended it. */
  private nextLine(chunk: Uint8Array, newline: number): number {
    const next = newline + 1
    if (chunk[newline] !== 13) return next
    if (next === chunk.length) {
      this.afterCr = true
      return next
    }
    return chunk[next] === 10 ? next + 1 : next
  }

  /** Flushes a last line that had no newline (end of stream). */
  end(): void {
    this.afterCr = false
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
