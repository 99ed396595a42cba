/**
 * Byte-level line splitting shared by the stdio framing and the SSE parser: bytes are kept until a line
 * is complete, so a UTF-8 character split across chunks is decoded whole, and a line that grows past the
 * limit is reported instead of buffered without bound.
 *
 * @internal
 */
export class LineSplitter {
  private chunks: Array<Uint8Array> = []
  private size = 0
  private readonly decoder = new TextDecoder("utf-8")

  constructor(
    readonly maxLineBytes: number,
    readonly onLine: (line: string) => void,
    readonly onOversize: (bytes: number) => void
  ) {}

  /** Returns `false` once a line exceeded the limit: the splitter is then unusable. */
  push(chunk: Uint8Array): boolean {
    let start = 0
    while (start < chunk.length) {
      const newline = chunk.indexOf(10, start)
      const end = newline === -1 ? chunk.length : newline
      const piece = chunk.subarray(start, end)
      if (this.size + piece.length > this.maxLineBytes) {
        this.onOversize(this.size + piece.length)
        this.chunks = []
        this.size = 0
        return false
      }
      if (newline === -1) {
        // keep a copy: the producer may reuse its buffer
        this.chunks.push(piece.slice())
        this.size += piece.length
        return true
      }
      this.emit(piece)
      start = newline + 1
    }
    return true
  }

  /** Flushes a last line that had no newline (end of stream). */
  end(): void {
    if (this.size > 0) this.emit(new Uint8Array(0))
  }

  private emit(last: Uint8Array): void {
    let bytes: Uint8Array
    if (this.chunks.length === 0) {
      bytes = last
    } else {
      bytes = new Uint8Array(this.size + last.length)
      let offset = 0
      for (const c of this.chunks) {
        bytes.set(c, offset)
        offset += c.length
      }
      bytes.set(last, offset)
      this.chunks = []
      this.size = 0
    }
    let line = this.decoder.decode(bytes)
    if (line.endsWith("\r")) line = line.slice(0, -1)
    this.onLine(line)
  }
}
