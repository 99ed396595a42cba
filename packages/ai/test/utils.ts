import { fileURLToPath } from "node:url"
import { execFileSync } from "node:child_process"

export const serverEverything = fileURLToPath(
  new URL("../node_modules/@modelcontextprotocol/server-everything/dist/index.js", import.meta.url)
)

export const clientInfo = { name: "ai-test", version: "0.0.0" }

/** The PIDs of this process's children whose command line contains `needle`. */
export const childPids = (needle: string): Array<number> => {
  let out = ""
  try {
    out = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" })
  } catch {
    return []
  }
  return out.split("\n").flatMap((line) => {
    const match = /^\s*(\d+)\s+(.*)$/.exec(line)
    return match !== null && match[2]!.includes(needle) ? [Number(match[1])] : []
  })
}
