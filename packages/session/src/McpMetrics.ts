/**
 * The metrics every session records (`effect/Metric`): export them with any Effect metrics exporter, or
 * read them with `Metric.value`. Tags never carry arguments or secrets.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"

/**
 * Requests sent, tagged `method`.
 *
 * @since 0.1.0
 * @category models
 */
export const requests = Metric.counter("mcp_requests_total", { description: "MCP requests", incremental: true })

/**
 * Failed requests, tagged `method` and `error` (the error tag, or the crash reason for `TransportCrashed`).
 *
 * @since 0.1.0
 * @category models
 */
export const failures = Metric.counter("mcp_request_failures_total", {
  description: "failed MCP requests",
  incremental: true
})

/**
 * Request latency, tagged `method`.
 *
 * @since 0.1.0
 * @category models
 */
export const latency = Metric.timerWithBoundaries(
  "mcp_request_duration",
  [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000],
  "MCP request latency (ms)"
)

/**
 * Transport deaths, tagged `reason`.
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
