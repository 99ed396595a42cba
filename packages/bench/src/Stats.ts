/**
 * Samples, summaries and the rows of the report.
 *
 * A sample that did not settle within its bound is recorded as `Infinity` ("hung"): it is never shown as
 * a number that looks like a measurement.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"

/**
 * What one side (this library, or the raw SDK) measured for one row.
 *
 * @since 0.1.0
 * @category models
 */
export type Side =
  | {
    readonly _tag: "Measured"
    /** Every sample, `Infinity` for one that hung past `bound`. */
    readonly samples: ReadonlyArray<number>
    /** The bound a sample was cut at, if the measure has one. */
    readonly bound?: number | undefined
  }
  | { readonly _tag: "NotApplicable"; readonly text: string }

/**
 * One line of the report: the same measure on the same transport, for both sides.
 *
 * @since 0.1.0
 * @category models
 */
export interface Row {
  readonly group: "overhead" | "crash" | "recovery" | "memory"
  readonly measure: string
  readonly transport: string
  readonly unit: "µs" | "ms" | "KiB" | "count"
  readonly library: Side
  readonly raw: Side
  /** What each side's caller got or had to do, and anything else worth a footnote. */
  readonly note?: string | undefined
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const measured = (samples: ReadonlyArray<number>, bound?: number): Side =>
  bound === undefined ? { _tag: "Measured", samples } : { _tag: "Measured", samples, bound }

/**
 * @since 0.1.0
 * @category constructors
 */
export const notApplicable = (text: string): Side => ({ _tag: "NotApplicable", text })

/**
 * The nearest-rank percentile (`p` in 0..100) of the samples; `Infinity` samples sort last.
 *
 * @since 0.1.0
 * @category combinators
 */
export const percentile = (samples: ReadonlyArray<number>, p: number): number => {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[Math.min(rank, sorted.length) - 1]!
}

/**
 * @since 0.1.0
 * @category combinators
 */
export const median = (samples: ReadonlyArray<number>): number => {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * Median and p99 of a side, or `undefined` when the side has no numbers.
 *
 * @since 0.1.0
 * @category combinators
 */
export const summary = (side: Side): { readonly median: number; readonly p99: number; readonly n: number } | undefined =>
  side._tag === "Measured" && side.samples.length > 0
    ? { median: median(side.samples), p99: percentile(side.samples, 99), n: side.samples.length }
    : undefined

/**
 * `library / raw` of the medians, as text. A raw side that hung gives an upper bound (`< x`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const ratio = (row: Row): string => {
  const lib = summary(row.library)
  const raw = summary(row.raw)
  if (lib === undefined || raw === undefined) return "—"
  if (!Number.isFinite(lib.median) && !Number.isFinite(raw.median)) return "—"
  if (!Number.isFinite(lib.median)) return "∞"
  if (!Number.isFinite(raw.median)) {
    const bound = row.raw._tag === "Measured" ? row.raw.bound : undefined
    return bound !== undefined ? `< ${formatRatio(lib.median / bound)}` : "0"
  }
  if (raw.median === 0) return lib.median === 0 ? "both 0" : "—"
  return formatRatio(lib.median / raw.median)
}

const formatRatio = (r: number): string => (r >= 10 ? r.toFixed(0) : r >= 0.1 ? r.toFixed(2) : r.toPrecision(1))

/**
 * A number of the row's unit, or the "hung" text for a sample cut at its bound.
 *
 * @since 0.1.0
 * @category combinators
 */
export const formatValue = (value: number, unit: Row["unit"], bound: number | undefined): string => {
  if (!Number.isFinite(value)) {
    return bound !== undefined ? `> ${formatNumber(bound)} ${unit} (hangs until timeout)` : "hangs"
  }
  return unit === "count" ? `${value.toFixed(0)}` : `${formatNumber(value)} ${unit}`
}

/**
 * @since 0.1.0
 * @category combinators
 */
export const formatNumber = (value: number): string => {
  const abs = Math.abs(value)
  if (abs >= 100) return value.toFixed(0)
  if (abs >= 10) return value.toFixed(1)
  if (abs >= 1) return value.toFixed(2)
  return value.toFixed(3)
}

/**
 * Runs `rounds` rounds of a pair of measurements, alternating which side goes first, and collects both
 * sides' samples. `warmup` rounds run first and are discarded.
 *
 * @since 0.1.0
 * @category combinators
 */
export const interleave = <E, R>(options: {
  readonly rounds: number
  readonly warmup?: number | undefined
  readonly library: Effect.Effect<ReadonlyArray<number>, E, R>
  readonly raw: Effect.Effect<ReadonlyArray<number>, E, R>
}): Effect.Effect<{ readonly library: Array<number>; readonly raw: Array<number> }, E, R> =>
  Effect.gen(function*() {
    const library: Array<number> = []
    const raw: Array<number> = []
    for (let round = -(options.warmup ?? 0); round < options.rounds; round++) {
      const keep = round >= 0
      const runLibrary = Effect.map(options.library, (samples) => void (keep && library.push(...samples)))
      const runRaw = Effect.map(options.raw, (samples) => void (keep && raw.push(...samples)))
      if (Math.abs(round) % 2 === 0) {
        yield* runLibrary
        yield* runRaw
      } else {
        yield* runRaw
        yield* runLibrary
      }
    }
    return { library, raw }
  })
