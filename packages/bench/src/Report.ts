/**
 * The report: the machine, a text table for the terminal, the same table in Markdown, and an SVG chart of
 * the ratios.
 *
 * @since 0.1.0
 */
import * as os from "node:os"
import type { Row } from "./Stats.js"
import { formatValue, ratio, summary } from "./Stats.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Machine {
  readonly cpu: string
  readonly cores: number
  readonly memoryGiB: number
  readonly node: string
  readonly platform: string
  readonly loadAverage: string
  readonly date: string
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const machine = (): Machine => {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage: os.loadavg().map((l) => l.toFixed(2)).join(" / "),
    date: new Date().toISOString()
  }
}

const groupTitle: Record<Row["group"], string> = {
  overhead: "1. Per-call overhead",
  crash: "2. Crash detection (fault → the pending call fails)",
  recovery: "3. Recovery (crash → first successful call)",
  memory: "4. Memory"
}

/** The cells of a row, in table order. */
const cells = (row: Row): Array<string> => {
  const side = (s: Row["library"]) => {
    if (s._tag === "NotApplicable") return [s.text, ""]
    const sum = summary(s)
    if (sum === undefined) return ["—", "—"]
    return [formatValue(sum.median, row.unit, s.bound), formatValue(sum.p99, row.unit, s.bound)]
  }
  const lib = side(row.library)
  const raw = side(row.raw)
  const n = [summary(row.library)?.n, summary(row.raw)?.n].filter((x) => x !== undefined)
  return [row.measure, row.transport, lib[0]!, lib[1]!, raw[0]!, raw[1]!, ratio(row), n.length > 0 ? String(Math.min(...n)) : "—"]
}

const header = ["measure", "transport", "library median", "library p99", "raw SDK median", "raw SDK p99", "ratio", "n"]

/**
 * The table as plain text, grouped by measure.
 *
 * @since 0.1.0
 * @category combinators
 */
export const textTable = (rows: ReadonlyArray<Row>): string => {
  const body = rows.map(cells)
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)))
  const line = (r: ReadonlyArray<string>) => r.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ")
  const out: Array<string> = [line(header), widths.map((w) => "-".repeat(w)).join("  ")]
  let group: Row["group"] | undefined
  rows.forEach((row, i) => {
    if (row.group !== group) {
      group = row.group
      out.push(`[${groupTitle[group]}]`)
    }
    out.push(line(body[i]!))
  })
  return out.join("\n")
}

/**
 * A text made safe for a Markdown table cell (its pipes escaped).
 *
 * @since 0.1.0
 * @category combinators
 */
export const escape = (s: string): string => s.replace(/\|/g, "\\|")

/**
 * The table in Markdown, one table per measure, with each row's note below it.
 *
 * @since 0.1.0
 * @category combinators
 */
export const markdownTables = (rows: ReadonlyArray<Row>): string => {
  const out: Array<string> = []
  for (const group of ["overhead", "crash", "recovery", "memory"] as const) {
    const inGroup = rows.filter((r) => r.group === group)
    if (inGroup.length === 0) continue
    out.push(`### ${groupTitle[group]}`, "")
    out.push(`| ${header.join(" | ")} |`, `| ${header.map((_, i) => (i >= 2 ? "---:" : "---")).join(" | ")} |`)
    for (const row of inGroup) out.push(`| ${cells(row).map(escape).join(" | ")} |`)
    const notes = inGroup.filter((r) => r.note !== undefined)
    if (notes.length > 0) {
      out.push("")
      for (const row of notes) out.push(`- *${escape(row.measure)}* (${row.transport}): ${row.note}`)
    }
    out.push("")
  }
  return out.join("\n")
}

// ---------------------------------------------------------------------------------------------------------
// The chart
// ---------------------------------------------------------------------------------------------------------

const colors: Record<Row["group"], string> = {
  overhead: "#4e79a7",
  crash: "#e15759",
  recovery: "#59a14f",
  memory: "#b07aa1"
}

const xml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/**
 * A horizontal bar per row: library median / raw median on a log scale (1 = the same; left of 1 the
 * library is faster / smaller, right of it slower / larger). A raw side that hung is drawn to the bound
 * with an arrow: the true ratio is smaller still. Rows without two positive medians are listed, not drawn.
 *
 * @since 0.1.0
 * @category combinators
 */
export const svgChart = (rows: ReadonlyArray<Row>, title: string): string => {
  const min = 0.001
  const max = 1000
  const labelWidth = 470
  const plotWidth = 520
  const rowHeight = 20
  const top = 56
  const x = (v: number) => labelWidth + ((Math.log10(Math.min(max, Math.max(min, v))) - Math.log10(min)) / (Math.log10(max) - Math.log10(min))) * plotWidth
  const height = top + rows.length * rowHeight + 60
  const width = labelWidth + plotWidth + 110
  const parts: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${xml(title)}</text>`,
    `<text x="10" y="38" fill="#555">library median / raw SDK median, log scale: left of 1 the library is faster or smaller, right of 1 slower or larger</text>`
  ]
  for (let p = Math.log10(min); p <= Math.log10(max); p++) {
    const v = 10 ** p
    const gx = x(v)
    parts.push(
      `<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${top + rows.length * rowHeight}" stroke="${v === 1 ? "#333" : "#ddd"}" stroke-width="${v === 1 ? 1.5 : 1}"/>`,
      `<text x="${gx}" y="${top + rows.length * rowHeight + 14}" text-anchor="middle" fill="#555">${v >= 1 ? v.toFixed(0) : v.toString()}</text>`
    )
  }
  rows.forEach((row, i) => {
    const y = top + i * rowHeight
    const label = `${row.measure} · ${row.transport}`
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 14}" text-anchor="end">${xml(label.length > 78 ? `${label.slice(0, 75)}...` : label)}</text>`
    )
    const lib = summary(row.library)
    const raw = summary(row.raw)
    const bound = row.raw._tag === "Measured" ? row.raw.bound : undefined
    const hung = raw !== undefined && !Number.isFinite(raw.median) && bound !== undefined
    const denominator = hung ? bound : raw?.median
    if (lib === undefined || denominator === undefined || !(lib.median > 0) || !(denominator > 0) || !Number.isFinite(lib.median)) {
      parts.push(`<text x="${x(1) + 6}" y="${y + 14}" fill="#888">not charted (${xml(ratio(row))})</text>`)
      return
    }
    const r = lib.median / denominator
    const x0 = Math.min(x(1), x(r))
    const x1 = Math.max(x(1), x(r))
    parts.push(
      `<rect x="${x0}" y="${y + 4}" width="${Math.max(1, x1 - x0)}" height="${rowHeight - 8}" fill="${colors[row.group]}"/>`,
      `<text x="${x1 + 4}" y="${y + 14}" fill="#333">${xml(ratio(row))}${hung ? " (raw hung)" : ""}</text>`
    )
    if (hung) {
      parts.push(`<path d="M ${x0 - 7} ${y + 10} L ${x0} ${y + 5} L ${x0} ${y + 15} Z" fill="${colors[row.group]}"/>`)
    }
  })
  const legendY = top + rows.length * rowHeight + 36
  Object.entries(colors).forEach(([group, color], i) => {
    const lx = 10 + i * 200
    parts.push(
      `<rect x="${lx}" y="${legendY - 10}" width="12" height="12" fill="${color}"/>`,
      `<text x="${lx + 18}" y="${legendY}">${xml(groupTitle[group as Row["group"]].replace(/ \(.*\)$/, ""))}</text>`
    )
  })
  parts.push("</svg>")
  return parts.join("\n")
}
