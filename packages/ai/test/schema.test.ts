import { McpToolkit } from "@effect-mcp/ai"
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import { McpSession } from "@effect-mcp/session"
import * as Tool from "@effect/ai/Tool"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { clientInfo, serverEverything } from "./utils.js"

const accepts = (jsonSchema: unknown, value: unknown) =>
  Either.isRight(Schema.decodeUnknownEither(McpToolkit.toSchema(jsonSchema))(value))

describe("schema conversion", () => {
  it("primitives, enums, const, integers and their bounds", () => {
    assert.isTrue(accepts({ type: "string" }, "a"))
    assert.isFalse(accepts({ type: "string" }, 1))
    assert.isTrue(accepts({ type: "string", enum: ["a", "b"] }, "b"))
    assert.isFalse(accepts({ type: "string", enum: ["a", "b"] }, "c"))
    assert.isTrue(accepts({ enum: ["a", 1, null] }, null))
    assert.isTrue(accepts({ const: 3 }, 3))
    assert.isFalse(accepts({ const: 3 }, 4))
    assert.isTrue(accepts({ type: "integer" }, 3))
    assert.isFalse(accepts({ type: "integer" }, 3.5))
    assert.isTrue(accepts({ type: "number" }, 3.5))
    assert.isFalse(accepts({ type: "number", minimum: 0, maximum: 10 }, 11))
    assert.isFalse(accepts({ type: "number", exclusiveMinimum: 0 }, 0))
    assert.isFalse(accepts({ type: "string", minLength: 2 }, "a"))
    assert.isFalse(accepts({ type: "string", pattern: "^a+$" }, "ab"))
    assert.isTrue(accepts({ type: "boolean" }, false))
    assert.isFalse(accepts({ type: "boolean" }, "false"))
    assert.isTrue(accepts({ type: ["string", "null"] }, null))
    assert.isFalse(accepts({ type: ["string", "null"] }, 1))
  })

  it("objects: required and optional fields, nested objects, additionalProperties", () => {
    const schema = {
      type: "object",
      properties: {
        name: { type: "string" },
        address: {
          type: "object",
          properties: { city: { type: "string" }, zip: { type: "string" } },
          required: ["city"],
          additionalProperties: false
        }
      },
      required: ["name"]
    }
    assert.isTrue(accepts(schema, { name: "x" }))
    assert.isTrue(accepts(schema, { name: "x", address: { city: "y" } }))
    assert.isFalse(accepts(schema, { address: { city: "y" } }))
    assert.isFalse(accepts(schema, { name: "x", address: { zip: "1" } }))
    assert.isFalse(accepts(schema, { name: "x", address: { city: 1 } }))
    // what the model sends beyond the declared properties reaches the server when the schema allows it
    const decoded = Schema.decodeUnknownSync(McpToolkit.toSchema(schema))({ name: "x", extra: 1 })
    assert.deepStrictEqual(decoded, { name: "x", extra: 1 })
  })

  it("arrays, tuples (prefixItems, items arrays)", () => {
    assert.isTrue(accepts({ type: "array", items: { type: "number" } }, [1, 2]))
    assert.isFalse(accepts({ type: "array", items: { type: "number" } }, [1, "2"]))
    assert.isFalse(accepts({ type: "array", items: { type: "number" }, minItems: 1 }, []))
    const tuple = { type: "array", prefixItems: [{ type: "string" }, { type: "number" }], items: false }
    assert.isTrue(accepts(tuple, ["a", 1]))
    assert.isFalse(accepts(tuple, [1, "a"]))
    assert.isFalse(accepts(tuple, ["a", 1, 2]))
    assert.isTrue(accepts({ type: "array", items: [{ type: "string" }], additionalItems: { type: "number" } }, ["a", 1, 2]))
  })

  it("$ref and $defs, definitions, recursion", () => {
    const schema = {
      type: "object",
      $defs: { point: { type: "object", properties: { x: { type: "number" } }, required: ["x"] } },
      definitions: { label: { type: "string", enum: ["a", "b"] } },
      properties: { p: { $ref: "#/$defs/point" }, l: { $ref: "#/definitions/label" } },
      required: ["p"]
    }
    assert.isTrue(accepts(schema, { p: { x: 1 }, l: "a" }))
    assert.isFalse(accepts(schema, { p: { x: "1" } }))
    assert.isFalse(accepts(schema, { p: { x: 1 }, l: "c" }))
    const tree = {
      $defs: { node: { type: "object", properties: { children: { type: "array", items: { $ref: "#/$defs/node" } } } } },
      $ref: "#/$defs/node"
    }
    assert.isTrue(accepts(tree, { children: [{ children: [] }, {}] }))
    assert.isFalse(accepts(tree, { children: [{ children: 1 }] }))
    // a remote reference is not fetched
    assert.isTrue(accepts({ $ref: "https://example.com/schema.json" }, 42))
  })

  it("anyOf and oneOf as unions; allOf of objects merged", () => {
    const anyOf = { anyOf: [{ type: "string" }, { type: "object", properties: { n: { type: "number" } }, required: ["n"] }] }
    assert.isTrue(accepts(anyOf, "a"))
    assert.isTrue(accepts(anyOf, { n: 1 }))
    assert.isFalse(accepts(anyOf, { n: "1" }))
    assert.isTrue(accepts({ oneOf: [{ type: "integer" }, { type: "boolean" }] }, true))
    assert.isFalse(accepts({ oneOf: [{ type: "integer" }, { type: "boolean" }] }, "true"))
    const allOf = {
      allOf: [
        { type: "object", properties: { a: { type: "string" } }, required: ["a"] },
        { type: "object", properties: { b: { type: "number" } }, required: ["b"] }
      ]
    }
    assert.isTrue(accepts(allOf, { a: "x", b: 1 }))
    assert.isFalse(accepts(allOf, { a: "x" }))
  })

  it("2020-12 keywords with no Schema equivalent degrade to Unknown on their node only", () => {
    for (
      const node of [
        { not: { type: "string" } },
        { if: { type: "string" }, then: { minLength: 1 } },
        { type: "array", items: { type: "number" }, uniqueItems: true },
        { type: "array", contains: { type: "number" } },
        { type: "object", unevaluatedProperties: false },
        { type: "object", dependentRequired: { a: ["b"] } },
        { $dynamicRef: "#meta" }
      ]
    ) {
      assert.isTrue(accepts(node, "anything"), JSON.stringify(node))
    }
    const schema = {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      properties: { free: { not: { type: "null" } }, n: { type: "number", format: "double", deprecated: true } },
      required: ["n"]
    }
    assert.isTrue(accepts(schema, { free: null, n: 1 }))
    assert.isFalse(accepts(schema, { free: null, n: "1" }))
  })

  it("a tool's parameters decode its arguments and give the model the server's schema, unchanged", () => {
    const inputSchema = {
      type: "object" as const,
      $defs: { unit: { type: "string", enum: ["c", "f"] } },
      properties: { city: { type: "string", description: "the city" }, unit: { $ref: "#/$defs/unit" } },
      required: ["city"],
      if: { properties: { unit: { const: "f" } } },
      then: { required: ["unit"] }
    }
    const tool = McpToolkit.tool({ name: "weather", server: "s", tool: { name: "weather", inputSchema } })
    assert.deepStrictEqual(Tool.getJsonSchema(tool) as unknown, inputSchema)
    // a root keyword with no equivalent: any object decodes, and the server validates
    assert.isTrue(Either.isRight(Schema.decodeUnknownEither(tool.parametersSchema)({ city: 1 })))
    const { if: _if, then: _then, ...plain } = inputSchema
    const strict = McpToolkit.tool({ name: "w", server: "s", tool: { name: "w", inputSchema: plain } })
    assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(strict.parametersSchema)({ city: 1 })))
    assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(strict.parametersSchema)({ city: "x", unit: "k" })))
  })

  it("description and annotations carry over", () => {
    const tool = McpToolkit.tool({
      name: "srv__t",
      server: "srv",
      tool: {
        name: "t",
        title: "T",
        description: "does t",
        inputSchema: { type: "object" },
        annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false }
      }
    })
    assert.strictEqual(tool.name, "srv__t")
    assert.strictEqual(Tool.getDescription(tool), "does t")
    const get = <I, S>(tag: Context.Tag<I, S>) =>
      (tool.annotations.unsafeMap.get(tag.key) as S | undefined)
    assert.strictEqual(get(Tool.Title), "T")
    assert.strictEqual(get(Tool.Readonly), true)
    assert.strictEqual(get(Tool.Destructive), false)
    assert.strictEqual(get(Tool.Idempotent), true)
    assert.strictEqual(get(Tool.OpenWorld), false)
    assert.strictEqual(get(McpToolkit.Source)?.server, "srv")
  })

  it.scopedLive("every tool of server-everything: the model sees its schema, and valid arguments decode", () =>
    Effect.gen(function*() {
      const session = yield* McpSession.make({
        transport: NodeMcpTransport.stdio({ command: process.execPath, args: [serverEverything, "stdio"] }),
        clientInfo
      })
      const { toolkit, tools } = yield* McpToolkit.make(session)
      assert.isAbove(tools.length, 5)
      for (const entry of tools) {
        const tool = toolkit.tools[entry.name]!
        assert.deepStrictEqual(Tool.getJsonSchema(tool) as unknown, entry.tool.inputSchema, entry.name)
        assert.strictEqual(Tool.getDescription(tool), entry.tool.description)
      }
      const decode = (name: string, args: unknown) =>
        Schema.decodeUnknownEither(toolkit.tools[name]!.parametersSchema)(args)
      assert.isTrue(Either.isRight(decode("echo", { message: "hi" })))
      assert.isTrue(Either.isLeft(decode("echo", {})))
      assert.isTrue(Either.isRight(decode("get-sum", { a: 1, b: 2 })))
      assert.isTrue(Either.isLeft(decode("get-sum", { a: "1", b: 2 })))
    }).pipe(Effect.provide(NodeContext.layer)), 30_000)
})
