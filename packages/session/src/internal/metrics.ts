import * as Arr from "effect/Array"
import * as Duration from "effect/Duration"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import type * as MetricKeyType from "effect/MetricKeyType"
import type * as MetricState from "effect/MetricState"

const latencyName = "mcp_request_duration"

const latencyBoundaries: ReadonlyArray<number> = [
  0.5,
  1,
  2,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1000,
  2500,
  5000,
  10000,
  30000,
  60000
]

const latencyDescription = "MCP request latency (ms)"

/**
 * An update of `metric` under `labels` and the fiber's own metric labels, for the paths every request takes.
 *
 * Effect finds a metric's state by the identity of the label array it is given, and `Metric.tagged` joins
 * its labels with the fiber's into a new array on every update: each update then builds a new `MetricKey`
 * (hashing it, and formatting its description) to find the same state. Here the joined array is made once
 * per array of fiber labels (the FiberRef keeps its array until it is changed) and reused. The labels, and
 * so the metrics, are those `Metric.tagged` would give.
 *
 * @internal
 */
export const labelled = <Type, In, Out>(
  metric: Metric.Metric<Type, In, Out>,
  labels: ReadonlyArray<MetricLabel.MetricLabel>
) => {
  const joined = new WeakMap<ReadonlyArray<MetricLabel.MetricLabel>, ReadonlyArray<MetricLabel.MetricLabel>>()
  return (input: In, fiberLabels: ReadonlyArray<MetricLabel.MetricLabel>): void => {
    let all = joined.get(fiberLabels)
    if (all === undefined) {
      all = Arr.union(labels, fiberLabels)
      joined.set(fiberLabels, all)
    }
    metric.unsafeUpdate(input, all)
  }
}

/**
 * The histogram under `McpMetrics.latency`. A histogram's key holds its boundaries, and keys compare them by
 * identity: the session's updates and `McpMetrics.latency` must share this one.
 *
 * @internal
 */
export const latencyHistogram = Metric.histogram(
  latencyName,
  MetricBoundaries.fromIterable(latencyBoundaries),
  latencyDescription
)

const timeUnit = [MetricLabel.make("time_unit", "milliseconds")]

/**
 * `McpMetrics.latency`: what `Metric.timerWithBoundaries` makes (the histogram tagged `time_unit:
 * milliseconds`, fed milliseconds), on the histogram the session updates directly.
 *
 * @internal
 */
export const latencyTimer: Metric.Metric<MetricKeyType.MetricKeyType.Histogram, Duration.Duration, MetricState.MetricState.Histogram> =
  Metric.mapInput(Metric.taggedWithLabels(latencyHistogram, timeUnit), Duration.toMillis)

/**
 * Updates `McpMetrics.latency` tagged `labels` (and the fiber's labels), as `Metric.tagged` would, without
 * the timer's own join of its `time_unit` tag on every update.
 *
 * @internal
 */
export const latency = (labels: ReadonlyArray<MetricLabel.MetricLabel>) => {
  const update = labelled(latencyHistogram, Arr.union(timeUnit, labels))
  return (duration: Duration.Duration, fiberLabels: ReadonlyArray<MetricLabel.MetricLabel>): void =>
    update(Duration.toMillis(duration), fiberLabels)
}
