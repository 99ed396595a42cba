/**
 * Messages over the limit, read through as they stream by: the ids of the answers they carry, wherever a
 * server writes the id, and the text that the line splitter and the SSE parser hand to whoever reads them.
 */
import { assert, describe, it } from "@effect/vitest"
import type { RequestId } from "@modelcontextprotocol/sdk/types.js"
import { LineSplitter } from "../src/internal/lines.js"
import { MessageIdScanner } from "../src/internal/messages.js"
import type { OversizeEvent } from "../src/internal/sseParser.js"
import { SseParser } from "../src/internal/sseParser.js"

/**
 * The ids a scanner reports for `text`, pushed in pieces of `size` characters (all at once by default):
 * answers as they are, the server's requests as `request <id>`.
 */
const answerIds = (text: string, size = text.length): Array<RequestId> => {
  const ids: Array<RequestId> = []
  const scanner = new MessageIdScanner((id) => ids.push(id), (id) => ids.push(`request ${JSON.stringify(id)}`))
  for (let i = 0; i < text.length; i += size) scanner.push(text.slice(i, i + size))
  return ids
}

/** The same, in every piece size from 1 to 7 and at once: the answer must not depend on the chunking. */
const answerIdsAnyChunking = (text: string): Array<RequestId> => {
  const whole = answerIds(text)
  for (let size = 1; size <= 7; size++) assert.deepStrictEqual(answerIds(text, size), whole, `pieces of ${size}`)
  return whole
}

const big = JSON.stringify({ content: [{ type: "text", text: "x".repeat(10_000) }] })
const encoder = new TextEncoder()

describe("MessageIdScanner", () => {
  it("reads the id wherever the answer has it: first, last (as the TypeScript SDK writes), or in the middle", () => {
    assert.deepStrictEqual(answerIdsAnyChunking(`{"jsonrpc":"2.0","id":7,"result":${big}}`), [7])
    assert.deepStrictEqual(answerIdsAnyChunking(`{"result":${big},"jsonrpc":"2.0","id":"a-7"}`), ["a-7"])
    assert.deepStrictEqual(answerIdsAnyChunking(`{"jsonrpc":"2.0","result":${big},"id":8,"extra":{"id":9}}`), [8])
    assert.deepStrictEqual(
      answerIdsAnyChunking(`{"jsonrpc":"2.0","error":{"code":-32603,"message":"${"m".repeat(5000)}"},"id":-3}`),
      [-3]
    )
    assert.deepStrictEqual(answerIdsAnyChunking(` { "id" : 12 , "result" : { } } `), [12])
    assert.deepStrictEqual(answerIdsAnyChunking(`{"result":1,"id":13}`), [13])
  })

  it("tells an id written first as soon as the result begins, long before the message ends", () => {
    assert.deepStrictEqual(answerIds(`{"jsonrpc":"2.0","id":"early","result":{"content":[{"type":"text","text":"xxxx`), [
      "early"
    ])
    // written last, it is not known until it is read
    assert.deepStrictEqual(answerIds(`{"result":{"content":[{"type":"text","text":"xxxx`), [])
  })

  it("takes only the message's own members: not nested ones, nor text inside strings", () => {
    const decoys = JSON.stringify({
      content: [{ type: "text", text: "{\"id\":98,\"result\":{}} \\\" \"id\":97" }],
      structuredContent: { kind: "x", id: 99, result: true, nested: [{ kind: "y", id: 96, error: {} }] }
    })
    assert.deepStrictEqual(answerIdsAnyChunking(`{"result":${decoys},"jsonrpc":"2.0","id":5}`), [5])
    assert.deepStrictEqual(answerIdsAnyChunking(`{"jsonrpc":"2.0","id":6,"result":${decoys}}`), [6])
    assert.deepStrictEqual(answerIdsAnyChunking(`{"jsonrpc":"2.0","method":"notifications/message","params":${decoys}}`), [])
  })

  it("a server's request (method and id) is told as one, wherever its id is; a notification is nothing", () => {
    assert.deepStrictEqual(answerIdsAnyChunking(`{"jsonrpc":"2.0","id":5,"method":"sampling/createMessage","params":${big}}`), [
      "request 5"
    ])
    assert.deepStrictEqual(answerIdsAnyChunking(`{"jsonrpc":"2.0","method":"roots/list","params":${big},"id":"r"}`), [
      "request \"r\""
    ])
    // told before the message ends
    assert.deepStrictEqual(answerIds(`{"jsonrpc":"2.0","id":6,"method":"ping","params":{"pad":"xxxx`), ["request 6"])
    assert.deepStrictEqual(answerIdsAnyChunking(`{"jsonrpc":"2.0","method":"notifications/progress","params":${big}}`), [])
  })

  it("reads every answer of a batch", () => {
    const batch = `[{"jsonrpc":"2.0","id":1,"result":${big}},{"jsonrpc":"2.0","method":"x","params":{"id":4}},` +
      `{"error":{"code":1,"message":"m"},"id":"two","jsonrpc":"2.0"},{"jsonrpc":"2.0","method":"ping","id":3}]`
    assert.deepStrictEqual(answerIdsAnyChunking(batch), [1, "two", "request 3"])
  })

  it("decodes escapes in keys and string ids; ignores ids that cannot be ours", () => {
    assert.deepStrictEqual(answerIdsAnyChunking(`{"\\u0069d":4,"result":1}`), [4])
    assert.deepStrictEqual(answerIdsAnyChunking(`{"id":"a\\"b","result":1}`), ["a\"b"])
    assert.deepStrictEqual(answerIdsAnyChunking(`{"id":null,"error":{"code":-32700,"message":"parse"}}`), [])
    assert.deepStrictEqual(answerIdsAnyChunking(`{"id":{"n":1},"result":1}`), [])
    assert.deepStrictEqual(answerIdsAnyChunking(`{"id":"${"i".repeat(300)}","result":1}`), [])
    assert.deepStrictEqual(answerIdsAnyChunking(`{"${"k".repeat(300)}":1,"id":6,"result":1}`), [6])
    assert.deepStrictEqual(answerIdsAnyChunking(`not json at all, "id":3 "result"`), [])
  })
})

describe("LineSplitter", () => {
  it("hands a line over the limit, whole and decoded, to its watcher; keeps its head; reads the next line", () => {
    const lines: Array<string> = []
    const skipped: Array<{ bytes: number; head: string }> = []
    const watched: Array<string> = []
    const splitter = new LineSplitter(
      64,
      (line) => lines.push(line),
      ({ bytes, head }) => skipped.push({ bytes, head: new TextDecoder().decode(head) }),
      () => {
        watched.push("")
        return (text) => void (watched[watched.length - 1] += text)
      }
    )
    const long = `{"text":"${"é".repeat(100)}ü€"}`
    const bytes = encoder.encode(`short\n${long}\r\nafter\n`)
    // split every 5 bytes: lines and characters are cut anywhere
    for (let i = 0; i < bytes.length; i += 5) splitter.push(bytes.subarray(i, i + 5))
    assert.deepStrictEqual(lines, ["short", "after"])
    assert.deepStrictEqual(watched, [`${long}\r`])
    assert.strictEqual(skipped.length, 1)
    assert.strictEqual(skipped[0]!.bytes, encoder.encode(long).length + 1)
    assert.isTrue(long.startsWith(skipped[0]!.head.replace(/\uFFFD$/, "")))
  })

  it("without crEndsLines (the stdio framing), only a LF ends a line: a CR inside one is kept", () => {
    const lines: Array<string> = []
    const splitter = new LineSplitter(64, (line) => lines.push(line), () => {})
    splitter.push(encoder.encode("a\rb\r\nc\r"))
    splitter.push(encoder.encode("\nd\n"))
    assert.deepStrictEqual(lines, ["a\rb", "c", "d"])
  })
})

describe("SseParser line ends", () => {
  /** The events (`id=data`) of `chunks`, pushed one by one. */
  const events = (chunks: ReadonlyArray<string>, limit = 4096) => {
    const out: Array<string> = []
    const answers: Array<RequestId> = []
    const parser = new SseParser(limit, {
      onEvent: (event) => out.push(`${event.id ?? ""}=${event.data}`),
      onOversize: (event) => out.push(`${event.id ?? ""}=oversize ${event.answered ? "answer" : "other"}`),
      onOversizeAnswer: (id) => answers.push(id)
    })
    for (const chunk of chunks) parser.push(encoder.encode(chunk))
    return { out, answers }
  }
  /** The same for `text`, in every piece size from 1 to 7 and at once: the events must not depend on it. */
  const anyChunking = (text: string): Array<string> => {
    const whole = events([text]).out
    for (let size = 1; size <= 7; size++) {
      const pieces = Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size))
      assert.deepStrictEqual(events(pieces).out, whole, `pieces of ${size}`)
    }
    return whole
  }

  it("LF, CRLF and a lone CR each end a line (WHATWG), in any chunking", () => {
    assert.deepStrictEqual(anyChunking(`data: {"a":1}\n\n`), [`={"a":1}`])
    assert.deepStrictEqual(anyChunking(`data: {"a":1}\r\n\r\n`), [`={"a":1}`])
    assert.deepStrictEqual(anyChunking(`data: {"a":1}\r\r`), [`={"a":1}`])
    assert.deepStrictEqual(anyChunking(`id: 1\rdata: a\r\ndata: b\n\r\nid: 2\r\ndata: c\r\rdata: d\n\n`), ["1=a\nb", "2=c", "=d"])
  })

  it("a CR that ends a chunk: a LF that begins the next is the same line end; other text begins a line", () => {
    // CRLF split: one line end, not an empty line (which would dispatch the event before its second data line)
    assert.deepStrictEqual(events(["data: a\r", "\ndata: b\r", "\n\r", "\n"]).out, ["=a\nb"])
    // a lone CR, then the next line
    assert.deepStrictEqual(events(["data: a\r", "data: b\r", "\r"]).out, ["=a\nb"])
    // a lone CR, then an empty chunk, then the LF of a CRLF
    assert.deepStrictEqual(events(["data: a\r", "", "\n\r", "\n"]).out, ["=a"])
  })

  it("with CR line ends, an event over the limit is still dropped as it streams by, its answer told", () => {
    const answer = `{"jsonrpc":"2.0","id":9,"result":${big}}`
    const { answers, out } = events([`id: e1\rdata: ${answer}\r\r`, `data: {"next":1}\r\r`])
    assert.deepStrictEqual(answers, [9])
    assert.deepStrictEqual(out, ["e1=oversize answer", `={"next":1}`])
  })
})

describe("SseParser", () => {
  const parse = (limit: number, text: string, size = 7) => {
    const events: Array<string> = []
    const answers: Array<{ id: RequestId; bytes: number }> = []
    const requests: Array<RequestId> = []
    const oversize: Array<OversizeEvent> = []
    const parser = new SseParser(limit, {
      onEvent: (event) => events.push(event.data),
      onOversize: (event) => oversize.push(event),
      onOversizeAnswer: (id, bytes) => answers.push({ id, bytes }),
      onOversizeRequest: (id) => requests.push(id)
    })
    const bytes = encoder.encode(text)
    for (let i = 0; i < bytes.length; i += size) parser.push(bytes.subarray(i, i + size))
    return { events, answers, requests, oversize }
  }

  it("an answer over the limit in one data line: its id, wherever it is; its event id; the next event", () => {
    const answer = `{"jsonrpc":"2.0","result":${big},"id":21,"more":true}`
    const { answers, events, oversize } = parse(4096, `id: e1\ndata: ${answer}\n\ndata: {"next":1}\n\n`)
    assert.deepStrictEqual(answers.map((a) => a.id), [21])
    assert.isAbove(answers[0]!.bytes, 4096)
    assert.deepStrictEqual(events, [`{"next":1}`])
    assert.strictEqual(oversize.length, 1)
    assert.deepStrictEqual({ ...oversize[0]!, head: oversize[0]!.head.slice(0, 20) }, {
      bytes: answer.length + 6,
      head: answer.slice(0, 20),
      id: "e1",
      answered: true
    })
  })

  it("an answer over the limit in many data lines, each under it: read as the lines joined", () => {
    const lines = [`{"jsonrpc":"2.0",`, `"result":{"content":[`, ...Array(20).fill(`{"type":"text","text":"${"y".repeat(300)}"},`), `{"type":"text","text":""}]},`, `"id":"multi"}`]
    const { answers, oversize } = parse(4096, `${lines.map((line) => `data: ${line}`).join("\n")}\n\n`)
    assert.deepStrictEqual(answers.map((a) => a.id), ["multi"])
    assert.strictEqual(oversize[0]!.answered, true)
  })

  it("an id written first is told before the event ends", () => {
    const { answers, oversize } = parse(4096, `data: {"jsonrpc":"2.0","id":3,"result":{"text":"${"z".repeat(8192)}`)
    assert.deepStrictEqual(answers.map((a) => a.id), [3])
    assert.deepStrictEqual(oversize, [])
  })

  it("a server's request over the limit is told by its id, and reported for the log", () => {
    const { answers, oversize, requests } = parse(4096, `data: {"jsonrpc":"2.0","id":"s1","method":"ping","params":{"pad":"${"p".repeat(8192)}"}}\n\n`)
    assert.deepStrictEqual(requests, ["s1"])
    assert.deepStrictEqual(answers, [])
    assert.deepStrictEqual(oversize.map((o) => o.answered), [false])
  })

  it("an event over the limit that is no answer, or not a message event, is reported for the log only", () => {
    const notification = `{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"${"n".repeat(8192)}"}}`
    const first = parse(4096, `data: ${notification}\n\n`)
    assert.deepStrictEqual(first.answers, [])
    assert.deepStrictEqual(first.oversize.map((o) => o.answered), [false])
    const other = parse(4096, `event: custom\ndata: {"id":1,"result":"${"r".repeat(8192)}"}\n\n`)
    assert.deepStrictEqual(other.answers, [])
    assert.deepStrictEqual(parse(4096, `event: custom\ndata: {"id":1,"method":"ping","pad":"${"r".repeat(8192)}"}\n\n`).requests, [])
    assert.deepStrictEqual(other.oversize.map((o) => o.answered), [false])
  })
})
