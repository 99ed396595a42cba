import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js"
import { JSONRPCMessageSchema } from "@modelcontextprotocol/sdk/types.js"
import * as Either from "effect/Either"

/**
 * Parses one JSON-RPC message (or a batch) from text. Never throws: a bad message is a `Left` with a
 * short reason, so that a transport can log and count it without dying.
 *
 * @internal
 */
export const parseMessages = (text: string): Either.Either<ReadonlyArray<JSONRPCMessage>, string> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return Either.left(`not JSON (${error instanceof Error ? error.message : String(error)})`)
  }
  const items = Array.isArray(json) ? json : [json]
  const out: Array<JSONRPCMessage> = []
  for (const item of items) {
    const parsed = JSONRPCMessageSchema.safeParse(item)
    if (!parsed.success) return Either.left("not a JSON-RPC 2.0 message")
    out.push(parsed.data as JSONRPCMessage)
  }
  return Either.right(out)
}

/** The id of a request (a message with `method` and `id`). @internal */
export const requestIdOf = (message: JSONRPCMessage): RequestId | undefined =>
  "method" in message && "id" in message ? (message.id as RequestId) : undefined

/** The ids of the requests among messages. @internal */
export const requestIdsOf = (messages: JSONRPCMessage | ReadonlyArray<JSONRPCMessage>): Array<RequestId> =>
  (Array.isArray(messages) ? messages : [messages]).flatMap((message: JSONRPCMessage) => {
    const id = requestIdOf(message)
    return id === undefined ? [] : [id]
  })

/** The id of a response (result or error), if the message is one. @internal */
export const responseIdOf = (message: JSONRPCMessage): RequestId | undefined =>
  !("method" in message) && "id" in message && ("result" in message || "error" in message)
    ? (message.id as RequestId)
    : undefined

/** A short, secret-free excerpt of a bad line for logs. @internal */
export const excerpt = (text: string, max = 200): string =>
  text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text

/** @internal */
export const defaultMaxMessageBytes = 16 * 1024 * 1024

const idToken = String.raw`(-?\d+|"(?:[^"\\]|\\.)*")`
/** `{"jsonrpc":"2.0","id":1,"result":…` or `{"id":1,"jsonrpc":"2.0","error":…`: the id first. */
const idFirst = [
  new RegExp(String.raw`^\s*\{\s*"jsonrpc"\s*:\s*"2\.0"\s*,\s*"id"\s*:\s*${idToken}\s*,\s*"(?:result|error)"\s*:`),
  new RegExp(String.raw`^\s*\{\s*"id"\s*:\s*${idToken}\s*,\s*"jsonrpc"\s*:\s*"2\.0"\s*,\s*"(?:result|error)"\s*:`)
]
/** `{"result":…,"jsonrpc":"2.0","id":1}`, as the TypeScript SDK writes its answers: the id last. */
const resultFirst = /^\s*\{\s*"(?:result|error)"\s*:/
const idLast = new RegExp(String.raw`"id"\s*:\s*${idToken}\s*\}\s*$`)

/**
 * The id of the answer that a line too large to read carried, from its first and last bytes. A server
 * writes the id before the result, or after it (the TypeScript SDK). In the second case the id found at
 * the end, just before the last brace, is the top-level one: inside a JSON string its quotes would be
 * escaped. `undefined` when the line is not recognisably an answer (a server's request or notification,
 * or a shape that cannot be read without the whole line).
 *
 * @internal
 */
export const oversizeAnswerId = (head: string, tail: string): RequestId | undefined => {
  for (const pattern of idFirst) {
    const match = pattern.exec(head)
    if (match !== null) return JSON.parse(match[1]!) as RequestId
  }
  if (!resultFirst.test(head)) return undefined
  const match = idLast.exec(tail)
  return match === null ? undefined : (JSON.parse(match[1]!) as RequestId)
}

/**
 * What a message over the limit, dropped as it streamed by, was: the answer to request `id` (which is to
 * fail alone, with `detail`), or, without an id, nothing we can use (`detail` is for the log).
 *
 * @internal
 */
export const droppedMessage = (
  tooLarge: string,
  head: string,
  tail: string
): { readonly id: RequestId | undefined; readonly detail: string } => {
  const id = oversizeAnswerId(head, tail)
  return id === undefined
    ? { id, detail: `${tooLarge}, and was dropped: ${excerpt(head, 80)}` }
    : { id, detail: `the answer to request ${JSON.stringify(id)}: ${tooLarge}` }
}
