/**
 * The project's latency goals, judged on a run's rows: `pnpm bench` prints the verdicts and
 * `docs/benchmarks.md` carries them, so a run says by itself whether a goal is met.
 *
 * The one goal so far is issue 3's: a server killed mid-call fails the pending call within 10 ms. It is
 * judged from the OS's notice of the death (an idle connection to the server ending), not from the `kill`:
 * before the notice the kernel is still tearing the process down, and no client can know of the death. The
 * measure is the median of the kill's samples, for every transport, both in the bench's own process (after
 * the per-call phase) and in a fresh process. The largest samples are shown next to it, not judged: they
 * are the garbage collections of the client's process that fall inside the window.
 *
 * @since 0.1.0
 */
import { fromNoticeSuffix } from "./Crash.js"
import { escape } from "./Report.js"
import type { Row } from "./Stats.js"
import { formatNumber, median, percentile } from "./Stats.js"

/**
 * A killed server's pending call fails within this many milliseconds of the OS's notice (median).
 *
 * @since 0.1.0
 * @category constants
 */
export const killGoalMillis = 10

/**
 * One row judged against a goal.
 *
 * @since 0.1.0
 * @category models
 */
export interface Verdict {
  readonly measure: string
  readonly transport: string
  /** The library's median (`Infinity` when over half the samples hung). */
  readonly median: number
  /** The library's largest sample. */
  readonly max: number
  readonly met: boolean
}

/**
 * The kill rows of a run (those counted from the OS's notice: only kills are, in the bench's process or in a
 * fresh one) judged against {@link killGoalMillis}; empty when the run has none.
 *
 * @since 0.1.0
 * @category combinators
 */
export const kills = (rows: ReadonlyArray<Row>): Array<Verdict> =>
  rows.filter((row) => row.group === "crash" && row.measure.includes(fromNoticeSuffix)).map((row) => {
    const samples = row.library._tag === "Measured" ? row.library.samples : []
    const middle = samples.length === 0 ? Number.POSITIVE_INFINITY : median(samples)
    return {
      measure: row.measure,
      transport: row.transport,
      median: middle,
      max: samples.length === 0 ? Number.POSITIVE_INFINITY : percentile(samples, 100),
      met: middle <= killGoalMillis
    }
  })

/**
 * The one-line summary of the verdicts: met only when there is at least one and every one is met.
 *
 * @since 0.1.0
 * @category combinators
 */
export const summary = (verdicts: ReadonlyArray<Verdict>): string => {
  if (verdicts.length === 0) return `not measured in this run (no kill was measured)`
  const missed = verdicts.filter((verdict) => !verdict.met)
  return missed.length === 0
    ? `met: every kill's median is within ${killGoalMillis} ms of the OS's notice (${verdicts.length} of ${verdicts.length})`
    : `missed in ${missed.length} of ${verdicts.length}: ${missed.map((v) => `${v.transport} ${show(v.median)}`).join(", ")}`
}

const show = (millis: number): string => (Number.isFinite(millis) ? `${formatNumber(millis)} ms` : "hung")

/**
 * The verdicts as a Markdown table.
 *
 * @since 0.1.0
 * @category combinators
 */
export const markdown = (verdicts: ReadonlyArray<Verdict>): string =>
  [
    "| kill, counted from the OS's notice | transport | library median | goal | largest sample (not judged) | verdict |",
    "| --- | --- | ---: | ---: | ---: | --- |",
    ...verdicts.map((v) =>
      `| ${escape(v.measure)} | ${v.transport} | ${show(v.median)} | ≤ ${killGoalMillis} ms | ${show(v.max)} | ${
        v.met ? "met" : "**missed**"
      } |`
    )
  ].join("\n")
