/**
 * The metrics every session records (`effect/Metric`): export them with any Effect metrics exporter, or
 * read them with `Metric.value`. Tags never carry arguments or secrets.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Metric from "effect/Metric"
import type * as MetricKeyType from "effect/MetricKeyType"
import type * as MetricState from "effect/MetricState"
import * as internal from "./internal/metrics.js"

/**
 * Requests sent, tagged `method`.
 *
 * @since 0.1.0
 * @category models
 */
export const requests = Metric.counter("mcp_requests_total", { description: "MCP requests", incremental: true })

/**
 * Failed requests, tagged `method` and `error` (the error tag, or the crash reason for `TransportCrashed`).
 * A tool's error result is a `ToolError` failure when the call fails on it (`toolErrors: "fail"`).
 *
 * @since 0.1.0
 * @category models
 */
export const failures = Metric.counter("mcp_request_failures_total", {
  description: "failed MCP requests",
  incremental: true
})

/**
 * Request latency, tagged `method`, of answered requests (a result, an error answer, a tool's error
 * result): a timer (`Metric.timerWithBoundaries`), a histogram of milliseconds tagged
 * `time_unit: milliseconds`, with buckets from 0.5 ms to 60 s.
 *
 * @since 0.1.0
 * @category models
 */
export const latency: Metric.Metric<
  MetricKeyType.MetricKeyType.Histogram,
  Duration.Duration,
  MetricState.MetricState.Histogram
> = internal.latencyTimer

/**
 * Transport deaths, tagged `reason`. The session's own end (its scope closing) is none.
 *
 * @since 0.1.0
 * @category models
 */
export const crashes = Metric.counter("mcp_transport_crashes_total", {
  description: "MCP transport deaths",
  incremental: true
})

/**
 * Sessions rebuilt by a resilient session after a crash.
 *
 * @since 0.1.0
 * @category models
 */
export const rebuilds = Metric.counter("mcp_session_rebuilds_total", {
  description: "MCP sessions rebuilt",
  incremental: true
})

/**
 * Requests replayed on a rebuilt session, tagged `method`.
 *
 * @since 0.1.0
 * @category models
 */
export const replays = Metric.counter("mcp_replays_total", { description: "MCP requests replayed", incremental: true })

/**
 * Resilient sessions that gave up.
 *
 * @since 0.1.0
 * @category models
 */
export const gaveUp = Metric.counter("mcp_session_gave_up_total", {
  description: "MCP sessions that gave up reconnecting",
  incremental: true
})
