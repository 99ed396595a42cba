#!/usr/bin/env node
/**
 * `pnpm check:packages`: builds the publishable packages, packs them as `pnpm publish` would (publishConfig
 * applied, `workspace:` ranges replaced) and uses the tarballs the way a user's project would: plain Node,
 * no tsx, no workspace. It fails when a packed package.json still points at sources or workspace ranges, when
 * an export or the `mcp-session` bin is missing from the tarball, when `internal/` is reachable, when the
 * declarations do not type-check in a strict NodeNext project, when the README's example, as written, does
 * not type-check there under the README's tsconfig (no `skipLibCheck`), or does not install with the README's
 * install line, or when a session over stdio to the real server-everything does not answer `echo`.
 *
 * The packages' own dependencies are linked from this workspace's install, so the check needs no network.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const packages = ["session", "platform-node", "cli", "ai"]
/** Every child of this script is bounded: nothing here may hang CI. */
const bound = { timeout: 120_000, killSignal: "SIGKILL" }

const failures = []
const check = (condition, message) => {
  if (!condition) failures.push(message)
  return condition
}
const run = (command, args, options = {}) => {
  const result = spawnSync(command, args, { encoding: "utf8", ...bound, ...options })
  if (result.error !== undefined) throw new Error(`${command} ${args.join(" ")}: ${result.error.message}`)
  return result
}
const mustRun = (command, args, options = {}) => {
  const result = run(command, args, options)
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited with ${result.status ?? result.signal}\n${result.stdout}\n${result.stderr}`)
  }
  return result.stdout
}

const pnpm = process.env.npm_execpath
if (pnpm === undefined || !/pnpm/.test(path.basename(pnpm))) {
  console.error("check-packages: run it through pnpm (`pnpm check:packages`), which it uses to pack")
  process.exit(2)
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "effect-mcp-packages-"))
try {
  // 1. build and pack
  mustRun(path.join(root, "node_modules/.bin/tsc"), ["-b", "tsconfig.build.json"], { cwd: root })
  const tarballs = path.join(work, "tarballs")
  fs.mkdirSync(tarballs)
  const project = path.join(work, "project")
  const modules = path.join(project, "node_modules")
  fs.mkdirSync(path.join(modules, "@effect-mcp"), { recursive: true })
  const manifests = {}
  for (const name of packages) {
    const dir = path.join(root, "packages", name)
    const tarball = mustRun(process.execPath, [pnpm, "pack", "--pack-destination", tarballs], { cwd: dir }).trim().split("\n").pop()
    const target = path.join(modules, "@effect-mcp", name)
    fs.mkdirSync(target)
    execFileSync("tar", ["xzf", tarball, "-C", target, "--strip-components=1"], bound)
    manifests[name] = JSON.parse(fs.readFileSync(path.join(target, "package.json"), "utf8"))
  }

  // 2. what the tarballs say of themselves
  const dependencies = new Map()
  for (const [name, manifest] of Object.entries(manifests)) {
    const target = path.join(modules, "@effect-mcp", name)
    const text = JSON.stringify(manifest)
    check(!text.includes("workspace:"), `${name}: the packed package.json still has a workspace: range`)
    check(!/\.\/src\/[^"]*\.ts"/.test(JSON.stringify(manifest.exports)), `${name}: exports still point at TypeScript sources`)
    const main = manifest.exports?.["."]
    for (const file of [main?.default, main?.types]) {
      check(typeof file === "string" && fs.existsSync(path.join(target, file)), `${name}: export "." → ${file} is not in the tarball`)
    }
    check(!fs.existsSync(path.join(target, "dist/.tsbuildinfo")), `${name}: the tarball carries the build info`)
    for (const file of ["README.md", "LICENSE"]) {
      check(fs.existsSync(path.join(target, file)), `${name}: ${file} is not in the tarball`)
    }
    for (const [dep] of Object.entries({ ...manifest.dependencies, ...manifest.peerDependencies })) {
      if (!dep.startsWith("@effect-mcp/")) dependencies.set(dep, path.join(root, "packages", name, "node_modules", dep))
    }
  }
  const bin = manifests.cli.bin?.["mcp-session"]
  const binFile = bin === undefined ? undefined : path.join(modules, "@effect-mcp/cli", bin)
  if (check(binFile !== undefined && fs.existsSync(binFile), `cli: the mcp-session bin (${bin}) is not in the tarball`)) {
    check(fs.readFileSync(binFile, "utf8").startsWith("#!/usr/bin/env node"), "cli: the bin does not start with a node shebang")
  }

  // 3. the project's other dependencies, linked from this workspace's install
  const brought = new Set(dependencies.keys())
  dependencies.set("@types/node", path.join(root, "node_modules/@types/node"))
  for (const [dep, from] of dependencies) {
    const link = path.join(modules, dep)
    fs.mkdirSync(path.dirname(link), { recursive: true })
    fs.symlinkSync(fs.realpathSync(from), link, "dir")
  }
  fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }))

  // 4. plain Node: a session over stdio to the real server-everything, through the packed packages
  fs.writeFileSync(
    path.join(project, "consumer.mjs"),
    `import { McpSession } from "@effect-mcp/session"
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import { EverythingServer } from "@effect-mcp/cli"
import { NodeContext } from "@effect/platform-node"
import * as Effect from "effect/Effect"

let internal = "reachable"
try {
  await import("@effect-mcp/session/internal/session")
} catch (error) {
  internal = error.code
}
const program = Effect.scoped(Effect.gen(function*() {
  const session = yield* McpSession.make({
    transport: NodeMcpTransport.stdio({ command: process.execPath, args: [EverythingServer.entryPoint(), "stdio"] }),
    clientInfo: { name: "consumer", version: "0.0.0" },
    requestTimeout: "20 seconds"
  })
  const tools = yield* session.listTools()
  const echo = yield* session.callTool({ name: "echo", arguments: { message: "packed" } })
  return { tools: tools.length, echo: echo.content[0], internal }
}))
console.log(JSON.stringify(await Effect.runPromise(program.pipe(Effect.provide(NodeContext.layer)))))
`
  )
  const consumer = run(process.execPath, ["consumer.mjs"], { cwd: project, timeout: 60_000 })
  if (check(consumer.status === 0, `the consumer failed (${consumer.status ?? consumer.signal}): ${consumer.stderr.slice(-2000)}`)) {
    const result = JSON.parse(consumer.stdout.trim().split("\n").pop())
    check(result.tools > 0, `the consumer listed no tools: ${consumer.stdout}`)
    check(result.echo?.text === "Echo: packed", `the consumer's echo answered ${JSON.stringify(result.echo)}`)
    check(result.internal === "ERR_PACKAGE_PATH_NOT_EXPORTED", `internal/ modules are ${result.internal}, not blocked`)
  }

  // 5. the declarations, in a strict NodeNext project, with the README's example as written: the tsconfig is
  // the README's, made stricter, and every package the example imports, and every peer, is in its install line
  const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
  const section = (heading) => {
    const start = readme.indexOf(`\n## ${heading}\n`)
    if (start === -1) return ""
    const end = readme.indexOf("\n## ", start + 1)
    return readme.slice(start, end === -1 ? undefined : end)
  }
  const block = (text, lang) => new RegExp("```" + lang + "\\n([\\s\\S]*?)\\n```").exec(text)?.[1]
  const example = block(section("Example"), "ts")
  const use = section("Use it in your project")
  const install = block(use, "sh") ?? ""
  const readmeConfig = block(use, "json")
  check(example !== undefined, "README.md: no ```ts block under \"## Example\"")
  check(readmeConfig !== undefined, "README.md: no ```json tsconfig under \"## Use it in your project\"")
  const installed = new Set(
    install.split("\n").filter((line) => /^npm install\b/.test(line)).flatMap((line) => line.split(/\s+/).slice(2))
      .filter((word) => !word.startsWith("-"))
  )
  const packageOf = (specifier) => specifier.split("/").slice(0, specifier.startsWith("@") ? 2 : 1).join("/")
  for (const [, specifier] of (example ?? "").matchAll(/from\s+"([^"]+)"/g)) {
    if (specifier.startsWith("node:") || specifier.startsWith(".")) continue
    check(installed.has(packageOf(specifier)), `README.md: the example imports ${specifier}, and the install line does not name ${packageOf(specifier)}`)
  }
  for (const name of ["session", "platform-node"]) {
    for (const peer of Object.keys(manifests[name].peerDependencies ?? {})) {
      check(installed.has(peer), `README.md: ${peer}, a peer of @effect-mcp/${name}, is not in the install line`)
    }
  }
  const readmeOptions = readmeConfig === undefined ? {} : JSON.parse(readmeConfig).compilerOptions ?? {}
  check(!("skipLibCheck" in readmeOptions), "README.md: the tsconfig sets skipLibCheck")
  fs.writeFileSync(path.join(project, "readme-example.ts"), example ?? "")
  fs.writeFileSync(
    path.join(project, "consumer.ts"),
    `import { McpError, McpSession, McpSessionPolicy } from "@effect-mcp/session"
import { McpToolkit } from "@effect-mcp/ai"
import { NodeMcpTransport } from "@effect-mcp/platform-node"
import type { HttpClient } from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"

export const Live: Layer.Layer<McpSession.McpSession | McpSession.Lifecycle, McpError.GaveUp, HttpClient> =
  McpSession.layerResilient(
    {
      transport: NodeMcpTransport.streamableHttp({ url: "http://127.0.0.1:3001/mcp" }),
      clientInfo: { name: "consumer", version: "0.0.0" },
      requestTimeout: "30 seconds"
    },
    McpSessionPolicy.make({ reconnect: Schedule.exponential("100 millis") })
  )

export const echo: Effect.Effect<string, never, McpSession.McpSession> = Effect.flatMap(
  McpSession.McpSession,
  (session) => session.callTool({ name: "echo", arguments: { message: "typed" } })
).pipe(
  Effect.map((result) => JSON.stringify(result.content)),
  Effect.catchTags({
    TransportCrashed: (error) => Effect.succeed(\`crashed: \${error.reason._tag}\`),
    RequestTimeout: (error) => Effect.succeed(\`timed out after \${error.timeoutMillis} ms\`)
  }),
  Effect.catchAll((error) => Effect.succeed(error._tag))
)

export const toolkit: Effect.Effect<McpToolkit.McpToolkit, McpError.RequestError, McpSession.McpSession> = Effect.flatMap(
  McpSession.McpSession,
  (session) => McpToolkit.make(session, { onUnavailable: "result" })
)
`
  )
  fs.writeFileSync(
    path.join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { ...readmeOptions, strict: true, exactOptionalPropertyTypes: true, noEmit: true },
      files: ["consumer.ts", "readme-example.ts"]
    })
  )
  const types = run(path.join(root, "node_modules/.bin/tsc"), ["-p", "tsconfig.json", "--listFiles"], { cwd: project })
  const [loaded, diagnostics] = [[], []]
  for (const line of types.stdout.split("\n")) (path.isAbsolute(line) ? loaded : diagnostics).push(line)
  check(types.status === 0, `the declarations do not type-check in a consumer project:\n${diagnostics.join("\n")}${types.stderr}`)
  // the dependencies are linked from this workspace, whose store has more: each @types package the check
  // used must be one that a user's install brings (a dependency of a tarball, or in the install line)
  for (const name of new Set(loaded.map((file) => /\/node_modules\/@types\/([^/]+)\//.exec(file)?.[1]).filter(Boolean))) {
    check(
      brought.has(`@types/${name}`) || installed.has(`@types/${name}`),
      `the type-check used @types/${name}, which neither a packed package's dependencies nor the README's install line bring`
    )
  }

  // 6. the executable, as installed
  const version = run(process.execPath, [binFile ?? "missing", "--version"], { cwd: project, timeout: 30_000 })
  check(
    version.status === 0 && version.stdout.includes(manifests.cli.version),
    `mcp-session --version exited ${version.status ?? version.signal}: ${version.stdout}${version.stderr}`
  )
} catch (error) {
  failures.push(String(error instanceof Error ? error.message : error))
} finally {
  fs.rmSync(work, { recursive: true, force: true })
}

if (failures.length > 0) {
  console.error(`check-packages: ${failures.length} problem(s)\n- ${failures.join("\n- ")}`)
  process.exit(1)
}
console.log(`check-packages: ${packages.map((p) => `@effect-mcp/${p}`).join(", ")} pack, import, type-check and run`)
