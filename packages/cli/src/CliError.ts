/**
 * The errors of the command line itself (as opposed to the session's `McpError`s).
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * The command line, a config file or an argument is not usable: nothing was sent to any server.
 *
 * @since 0.1.0
 * @category errors
 */
export class UsageError extends Schema.TaggedError<UsageError>("@effect-mcp/cli/UsageError")("UsageError", {
  detail: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  get message(): string {
    return this.detail
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isUsageError = (u: unknown): u is UsageError => Predicate.isTagged(u, "UsageError") && u instanceof UsageError
