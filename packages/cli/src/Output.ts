/**
 * Where `mcp-session` writes: results to stdout, everything meant for a person (status, progress, errors)
 * to stderr. A service, so that tests can capture it and the progress bar knows whether it is on a
 * terminal.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as internal from "./internal/output.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class Output extends Context.Tag("@effect-mcp/cli/Output")<Output, Output.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace Output {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** Writes a line to stdout. */
    readonly stdout: (line: string) => void
    /** Writes a line to stderr (clearing a progress bar first). */
    readonly stderr: (line: string) => void
    /**
     * Shows a transient line on stderr that the next write replaces (a progress bar). Only on a terminal;
     * elsewhere it does nothing.
     */
    readonly transient: (line: string) => void
    /** Whether stderr is a terminal: progress bars, redrawn lines. */
    readonly isTTY: boolean
    /** Whether to use ANSI colors (a terminal, and `NO_COLOR` unset). */
    readonly color: boolean
    /** The terminal's width, or 100. */
    readonly columns: number
    /**
     * Completes when nobody reads stdout any more (its reader went away: `| head -1`); writes are dropped
     * from then on. Never completes for a captured output.
     */
    readonly closed: Effect.Effect<void>
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Captured {
    readonly layer: Layer.Layer<Output>
    readonly stdout: () => string
    readonly stderr: () => string
  }
}

/**
 * The process's stdout and stderr.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerProcess: Layer.Layer<Output> = Layer.sync(Output, internal.makeProcess)

/**
 * Captures everything written, as on a pipe (no terminal, no color).
 *
 * @since 0.1.0
 * @category testing
 */
export const capture: Effect.Effect<Output.Captured> = Effect.sync(() => {
  const { service, stderr, stdout } = internal.makeCapture()
  return { layer: Layer.succeed(Output, service), stdout, stderr }
})
