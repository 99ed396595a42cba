import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js"
import { ErrorCode } from "@modelcontextprotocol/sdk/types.js"
import * as Either from "effect/Either"

/**
 * Parses one JSON-RPC message (or a batch) from text. Never throws: a bad message is a `Left` with a
 * short reason, so that a transport can log and count it without dying.
 *
 * @internal
 */
export const parseMessages = (text: string): Either.Either<ReadonlyArray<unknown>, string> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return Either.left(`not JSON (${error instanceof Error ? error.message : String(error)})`)
  }
  const items = Array.isArray(json) ? json : [json]
  for (const item of items) {
    // the session validates each message further; an invalid answer with an id fails that request
    if (typeof item !== "object" || item === null || Array.isArray(item) || (item as { jsonrpc?: unknown }).jsonrpc !== "2.0") {
      return Either.left("not a JSON-RPC 2.0 message")
    }
  }
  return Either.right(items)
}

/** @internal */
export const requestIdOf = (message: JSONRPCMessage): RequestId | undefined =>
  "method" in message && "id" in message ? (message.id as RequestId) : undefined

/** The ids of the requests among messages. @internal */
export const requestIdsOf = (messages: JSONRPCMessage | ReadonlyArray<JSONRPCMessage>): Array<RequestId> =>
  (Array.isArray(messages) ? messages : [messages]).flatMap((message: JSONRPCMessage) => {
    const id = requestIdOf(message)
    return id === undefined ? [] : [id]
  })

/** The ids of the requests that `notifications/cancelled` messages among messages cancel. @internal */
export const cancelledIdsOf = (messages: JSONRPCMessage | ReadonlyArray<JSONRPCMessage>): Array<RequestId> =>
  (Array.isArray(messages) ? messages : [messages]).flatMap((message: JSONRPCMessage) => {
    if (!("method" in message) || "id" in message || message.method !== "notifications/cancelled") return []
    const id = (message.params as { requestId?: unknown } | undefined)?.requestId
    return typeof id === "string" || typeof id === "number" ? [id] : []
  })

/** The id of a response (result or error), if the message is one. @internal */
export const responseIdOf = (message: unknown): RequestId | undefined => {
  if (typeof message !== "object" || message === null) return undefined
  const { id, method } = message as { readonly id?: unknown; readonly method?: unknown }
  // an answer, valid or not: the session fails the request of an invalid one
  return method === undefined && (typeof id === "string" || typeof id === "number") ? id : undefined
}

/** A short, secret-free excerpt of a bad line for logs. @internal */
export const excerpt = (text: string, max = 200): string =>
  text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text

/** @internal */
export const defaultMaxMessageBytes = 16 * 1024 * 1024

const QUOTE = 34
const BACKSLASH = 92
const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9
/** Raw keys longer than this are none of those we look for (`"id"`, `"result"`, `"error"`, `"method"`). */
const maxKeyChars = 64
/** Raw ids longer than this are not kept: no request of ours has one. */
const maxIdChars = 256

/**
 * Reads a JSON-RPC message too large to hold, as it streams by, for the ids it carries: those of the
 * answers (a message object at the root, or each object of a batch, with an `"id"` and a `"result"` or
 * `"error"` member of its own) and those of the server's requests (an `"id"` and a `"method"`). Members of
 * nested values do not count: strings, depth and escapes are followed. Each id is told as soon as it and
 * its kind are known, which for a server that writes the id first is long before the message ends. Only
 * short keys and ids are ever held; the rest is looked at once, and left.
 *
 * @internal
 */
export class MessageIdScanner {
  private depth = 0
  /** The depth of the message objects: 1 (a message at the root) or 2 (a batch); 0 before the root. */
  private messageDepth = 0
  private inString = false
  private escaped = false
  /** What the current string or number is kept for, if anything. */
  private capture: "key" | "id" | undefined = undefined
  private captured = ""
  private overflow = false
  // the message object being read
  private expectKey = false
  private key = ""
  private valueStarts = false
  private id: RequestId | undefined = undefined
  private answerKey = false
  private request = false
  private emitted = false
  /** Where the next quote and backslash are in the text being pushed (-1: none after the position). */
  private nextQuote = 0
  private nextBackslash = 0

  constructor(
    readonly onAnswer: (id: RequestId) => void,
    readonly onRequest: (id: RequestId) => void = () => {}
  ) {}

  push(text: string): void {
    this.nextQuote = text.indexOf("\"")
    this.nextBackslash = text.indexOf("\\")
    for (let i = 0; i < text.length; i++) {
      if (this.inString) {
        if ((this.capture === undefined || this.overflow) && !this.escaped) {
          // the bulk of a large message is the inside of its strings: jump to what can end one, over escapes
          i = this.nextSpecial(text, i)
          while (i !== -1 && text.charCodeAt(i) === BACKSLASH && i + 1 < text.length) i = this.nextSpecial(text, i + 2)
          if (i === -1) return
        }
        const c = text.charCodeAt(i)
        if (this.escaped) this.escaped = false
        else if (c === BACKSLASH) this.escaped = true
        else if (c === QUOTE) this.inString = false
        if (this.capture !== undefined && !this.overflow) this.keep(text[i]!)
        if (!this.inString) this.stringEnded()
        continue
      }
      this.structural(text.charCodeAt(i), text, i)
    }
  }

  /** The next quote or backslash at or after `i`, or -1. */
  private nextSpecial(text: string, i: number): number {
    if (this.nextQuote !== -1 && this.nextQuote < i) this.nextQuote = text.indexOf("\"", i)
    if (this.nextBackslash !== -1 && this.nextBackslash < i) this.nextBackslash = text.indexOf("\\", i)
    if (this.nextQuote === -1) return this.nextBackslash
    return this.nextBackslash === -1 ? this.nextQuote : Math.min(this.nextQuote, this.nextBackslash)
  }

  private keep(char: string): void {
    if (this.overflow) return
    this.captured += char
    if (this.captured.length > (this.capture === "key" ? maxKeyChars : maxIdChars)) this.overflow = true
  }

  private structural(c: number, text: string, i: number): void {
    const atMessage = this.messageDepth !== 0 && this.depth === this.messageDepth
    if (this.capture === "id") {
      // a number id ends at whatever cannot be part of it
      if (c === 44 || c === 125 || isSpace(c)) this.idEnded()
      else return this.keep(text[i]!)
    }
    if (isSpace(c)) return
    if (atMessage && this.valueStarts) {
      this.valueStarts = false
      if (this.key === "id" && c !== 123 && c !== 91) {
        this.capture = "id"
        this.captured = ""
        this.overflow = false
        this.keep(text[i]!)
        if (c === QUOTE) this.inString = true
        return
      }
    }
    switch (c) {
      case QUOTE:
        this.inString = true
        if (atMessage && this.expectKey) {
          this.capture = "key"
          this.captured = "\""
          this.overflow = false
        }
        return
      case 123: // {
        this.depth++
        if (this.depth === 1) this.messageDepth = 1
        if (this.depth === this.messageDepth) this.startMessage()
        return
      case 91: // [
        this.depth++
        if (this.depth === 1) this.messageDepth = 2
        return
      case 125: // }
        if (atMessage) this.endMessage()
        this.depth--
        return
      case 93: // ]
        this.depth--
        return
      case 44: // ,
        if (atMessage) this.expectKey = true
        return
      case 58: // :
        if (atMessage) this.valueStarts = true
        return
      default:
        return
    }
  }

  private stringEnded(): void {
    if (this.capture === "key") {
      this.capture = undefined
      this.expectKey = false
      this.key = this.overflow ? "" : parseJson(this.captured) as string
      if (this.key === "result" || this.key === "error") {
        this.answerKey = true
        this.emit()
      } else if (this.key === "method") {
        this.request = true
        this.emit()
      }
    } else if (this.capture === "id") this.idEnded()
  }

  private idEnded(): void {
    this.capture = undefined
    const id = this.overflow ? undefined : parseJson(this.captured)
    this.id = typeof id === "string" || (typeof id === "number" && Number.isFinite(id)) ? id : undefined
    this.emit()
  }

  private startMessage(): void {
    this.expectKey = true
    this.key = ""
    this.valueStarts = false
    this.id = undefined
    this.answerKey = false
    this.request = false
    this.emitted = false
  }

  private endMessage(): void {
    this.expectKey = false
    this.valueStarts = false
  }

  private emit(): void {
    if (this.emitted || this.id === undefined) return
    if (this.request) {
      this.emitted = true
      this.onRequest(this.id)
    } else if (this.answerKey) {
      this.emitted = true
      this.onAnswer(this.id)
    }
  }
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/**
 * The detail of the `StreamClosed` of a request whose answer, `what`, went over the limit: told as soon as
 * the answer's id was read, when `bytes` of it had been (all of it, for an id written last).
 *
 * @internal
 */
export const oversizeAnswer = (id: RequestId, what: string, limit: number, bytes: number): string =>
  `the answer to request ${JSON.stringify(id)}: ${what} exceeded the limit of ${limit} bytes (${bytes} bytes read)`

/**
 * The answer to a server's request that was over the limit: a JSON-RPC "Invalid Request" error, so that the
 * server hears at once instead of waiting for its own timeout. Sent best effort: a transport that cannot
 * send any more has other news for the session.
 *
 * @internal
 */
export const oversizeRefusal = (id: RequestId, limit: number): JSONRPCMessage => ({
  jsonrpc: "2.0",
  id,
  error: { code: ErrorCode.InvalidRequest, message: `the request exceeded the client's limit of ${limit} bytes, and was not read` }
})

/**
 * The log line of an SSE event over the limit that was no answer.
 *
 * @internal
 */
export const droppedEvent = (dropped: { readonly bytes: number; readonly head: string }, limit: number): string =>
  `an SSE event of ${dropped.bytes} bytes exceeded the limit of ${limit} bytes, and was dropped: ${excerpt(dropped.head, 80)}`
