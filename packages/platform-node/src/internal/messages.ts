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
