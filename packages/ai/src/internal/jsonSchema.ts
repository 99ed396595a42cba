import * as Schema from "effect/Schema"

type Json = Record<string, unknown>

/** Keywords that constrain values in ways `Schema` cannot state: the node they sit on decodes as `Unknown`. */
const untranslatable = [
  "not",
  "if",
  "then",
  "else",
  "dependentSchemas",
  "dependentRequired",
  "dependencies",
  "unevaluatedProperties",
  "unevaluatedItems",
  "contains",
  "minContains",
  "maxContains",
  "uniqueItems",
  "patternProperties",
  "propertyNames",
  "minProperties",
  "maxProperties",
  "$dynamicRef",
  "$recursiveRef"
] as const

const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

const AnyRecord = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** A JSON Pointer into `root` (`#`, `#/$defs/x`, `#/definitions/x`, any local path); `undefined` otherwise. */
const resolvePointer = (root: unknown, ref: string): unknown => {
  if (!ref.startsWith("#")) return undefined
  const path = ref.slice(1)
  if (path === "") return root
  if (!path.startsWith("/")) return undefined
  let node: unknown = root
  for (const raw of path.slice(1).split("/")) {
    const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~")
    if (Array.isArray(node)) node = node[Number(key)]
    else if (isObject(node)) node = node[key]
    else return undefined
  }
  return node
}

const literal = (value: unknown): Schema.Schema<any> | undefined => {
  if (value === null) return Schema.Null
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    return Schema.Literal(value)
  }
  return undefined
}

const union = (members: ReadonlyArray<Schema.Schema<any>>): Schema.Schema<any> =>
  members.length === 0 ? Schema.Never as unknown as Schema.Schema<any> : members.length === 1 ? members[0]! : Schema.Union(...members)

interface Context {
  readonly root: unknown
  /** A `$ref` being converted: its schema, through `suspend`, so that recursive definitions terminate. */
  readonly refs: Map<string, Schema.Schema<any>>
}

const convert = (node: unknown, ctx: Context): Schema.Schema<any> => {
  if (node === true || node === undefined) return Schema.Unknown
  if (node === false) return Schema.Never as unknown as Schema.Schema<any>
  if (!isObject(node)) return Schema.Unknown
  for (const keyword of untranslatable) {
    if (keyword in node) return Schema.Unknown
  }
  let schema = structural(node, ctx)
  if (typeof node.description === "string" || typeof node.title === "string") {
    schema = schema.annotations({
      ...(typeof node.description === "string" ? { description: node.description } : {}),
      ...(typeof node.title === "string" ? { title: node.title } : {})
    })
  }
  return schema
}

const structural = (node: Json, ctx: Context): Schema.Schema<any> => {
  if (typeof node.$ref === "string") return ref(node.$ref, ctx)
  if ("const" in node) return literal(node.const) ?? Schema.Unknown
  if (Array.isArray(node.enum)) {
    const members = node.enum.map(literal)
    return members.every((m) => m !== undefined) ? union(members as Array<Schema.Schema<any>>) : Schema.Unknown
  }
  const alternatives = Array.isArray(node.anyOf) ? node.anyOf : Array.isArray(node.oneOf) ? node.oneOf : undefined
  if (alternatives !== undefined) {
    // `oneOf`'s exclusivity is not checked: a value matching several alternatives is accepted.
    return union(alternatives.map((a) => convert(a, ctx)))
  }
  if (Array.isArray(node.allOf)) return allOf(node, node.allOf, ctx)
  const type = node.type
  if (Array.isArray(type)) return union(type.map((t) => typed(node, t, ctx)))
  if (typeof type === "string") return typed(node, type, ctx)
  if ("properties" in node || "required" in node || "additionalProperties" in node) return typed(node, "object", ctx)
  if ("items" in node || "prefixItems" in node) return typed(node, "array", ctx)
  return Schema.Unknown
}

const ref = (target: string, ctx: Context): Schema.Schema<any> => {
  const cached = ctx.refs.get(target)
  if (cached !== undefined) return cached
  const resolved = resolvePointer(ctx.root, target)
  // a remote reference (another document) is not fetched
  if (resolved === undefined) return Schema.Unknown
  let converted: Schema.Schema<any> | undefined
  const schema = Schema.suspend(() => (converted ??= convert(resolved, ctx)))
  ctx.refs.set(target, schema)
  converted = convert(resolved, ctx)
  return schema
}

/** `allOf` of object schemas merges their properties; anything else has no `Schema` equivalent here. */
const allOf = (node: Json, members: ReadonlyArray<unknown>, ctx: Context): Schema.Schema<any> => {
  const resolved = members.map((m) => (isObject(m) && typeof m.$ref === "string" ? resolvePointer(ctx.root, m.$ref) : m))
  if (!resolved.every((m) => isObject(m) && (m.type === "object" || "properties" in m) && !("allOf" in m))) {
    return Schema.Unknown
  }
  const properties: Json = { ...(isObject(node.properties) ? node.properties : {}) }
  const required = new Set<string>(Array.isArray(node.required) ? node.required : [])
  for (const m of resolved as Array<Json>) {
    Object.assign(properties, isObject(m.properties) ? m.properties : {})
    for (const r of Array.isArray(m.required) ? m.required : []) required.add(r)
  }
  return typed({ properties, required: [...required] }, "object", ctx)
}

const typed = (node: Json, type: unknown, ctx: Context): Schema.Schema<any> => {
  switch (type) {
    case "string":
      return string(node)
    case "number":
      return number(node, Schema.Number)
    case "integer":
      return number(node, Schema.Int)
    case "boolean":
      return Schema.Boolean
    case "null":
      return Schema.Null
    case "array":
      return array(node, ctx)
    case "object":
      return object(node, ctx)
    default:
      return Schema.Unknown
  }
}

const string = (node: Json): Schema.Schema<any> => {
  let schema: Schema.Schema<string> = Schema.String
  if (typeof node.minLength === "number") schema = schema.pipe(Schema.minLength(node.minLength))
  if (typeof node.maxLength === "number") schema = schema.pipe(Schema.maxLength(node.maxLength))
  if (typeof node.pattern === "string") {
    try {
      schema = schema.pipe(Schema.pattern(new RegExp(node.pattern, "u")))
    } catch {
      // an ECMA-262-incompatible pattern is left to the server
    }
  }
  return schema
}

const number = (node: Json, base: Schema.Schema<number>): Schema.Schema<any> => {
  let schema = base
  if (typeof node.minimum === "number") schema = schema.pipe(Schema.greaterThanOrEqualTo(node.minimum))
  if (typeof node.maximum === "number") schema = schema.pipe(Schema.lessThanOrEqualTo(node.maximum))
  // draft 4 writes exclusive bounds as booleans next to `minimum`/`maximum`
  if (typeof node.exclusiveMinimum === "number") schema = schema.pipe(Schema.greaterThan(node.exclusiveMinimum))
  if (node.exclusiveMinimum === true && typeof node.minimum === "number") {
    schema = schema.pipe(Schema.greaterThan(node.minimum))
  }
  if (typeof node.exclusiveMaximum === "number") schema = schema.pipe(Schema.lessThan(node.exclusiveMaximum))
  if (node.exclusiveMaximum === true && typeof node.maximum === "number") {
    schema = schema.pipe(Schema.lessThan(node.maximum))
  }
  if (typeof node.multipleOf === "number" && node.multipleOf > 0) schema = schema.pipe(Schema.multipleOf(node.multipleOf))
  return schema
}

const array = (node: Json, ctx: Context): Schema.Schema<any> => {
  // 2020-12 `prefixItems` + `items` (the rest), or draft 7 `items: [...]` + `additionalItems`
  const prefix = Array.isArray(node.prefixItems) ? node.prefixItems : Array.isArray(node.items) ? node.items : undefined
  let schema: Schema.Schema<ReadonlyArray<any>>
  if (prefix !== undefined) {
    const rest = Array.isArray(node.prefixItems) ? node.items : node.additionalItems
    const elements = prefix.map((p, i) => {
      const element = convert(p, ctx)
      return typeof node.minItems === "number" && i >= node.minItems ? Schema.optionalElement(element) : element
    })
    schema = rest === false
      ? Schema.Tuple(...elements)
      : Schema.Tuple(elements, convert(rest, ctx)) as any
  } else {
    schema = Schema.Array(convert(node.items, ctx))
  }
  if (typeof node.minItems === "number") schema = schema.pipe(Schema.minItems(node.minItems))
  if (typeof node.maxItems === "number") schema = schema.pipe(Schema.maxItems(node.maxItems))
  return schema
}

const fields = (node: Json, ctx: Context): Record<string, Schema.Schema<any> | Schema.PropertySignature.Any<PropertyKey>> => {
  const properties = isObject(node.properties) ? node.properties : {}
  const required = new Set(Array.isArray(node.required) ? node.required : [])
  const out: Record<string, Schema.Schema<any> | Schema.PropertySignature.Any<PropertyKey>> = {}
  for (const [name, property] of Object.entries(properties)) {
    const schema = convert(property, ctx)
    out[name] = required.has(name) ? schema : Schema.optionalWith(schema, { exact: true })
  }
  // a required name without a property schema is still required
  for (const name of required) {
    if (typeof name === "string" && !(name in out)) out[name] = Schema.Unknown
  }
  return out
}

const object = (node: Json, ctx: Context): Schema.Schema<any> => {
  const additional = node.additionalProperties
  if (additional === false) return Schema.Struct(fields(node, ctx)) as unknown as Schema.Schema<any>
  // other properties pass through to the server, as the model sent them
  const value = additional === undefined || additional === true ? Schema.Unknown : convert(additional, ctx)
  return Schema.Struct(fields(node, ctx), Schema.Record({ key: Schema.String, value })) as unknown as Schema.Schema<any>
}

/** @internal */
export const toSchema = (jsonSchema: unknown): Schema.Schema<unknown> =>
  convert(jsonSchema, { root: jsonSchema, refs: new Map() })

/** @internal */
export const toParameters = (inputSchema: unknown): Schema.Struct<Record<string, Schema.Schema<any>>> => {
  const root = isObject(inputSchema) ? inputSchema : {}
  const ctx: Context = { root, refs: new Map() }
  const translatable = untranslatable.every((k) => !(k in root)) && root.$ref === undefined &&
    root.anyOf === undefined && root.oneOf === undefined && root.allOf === undefined
  const base: Schema.Struct<any> = !translatable
    ? Schema.Struct({}, AnyRecord) as any
    : root.additionalProperties === false
    ? Schema.Struct(fields(root, ctx))
    : Schema.Struct(
      fields(root, ctx),
      Schema.Record({
        key: Schema.String,
        value: root.additionalProperties === undefined || root.additionalProperties === true
          ? Schema.Unknown
          : convert(root.additionalProperties, ctx)
      })
    ) as any
  // `Tool.getJsonSchema` returns an annotation with a `type` as it stands: the model gets the server's schema
  return base.annotations({ jsonSchema: { type: "object", ...root } })
}
