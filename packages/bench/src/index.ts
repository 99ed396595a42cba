/**
 * @since 0.1.0
 */
export * as Bench from "./Bench.js"

/**
 * @since 0.1.0
 */
export * as Clients from "./Clients.js"

/**
 * @since 0.1.0
 */
export * as Crash from "./Crash.js"

/**
 * @since 0.1.0
 */
export * as Goals from "./Goals.js"

/**
 * @since 0.1.0
 */
export * as Memory from "./Memory.js"

/**
 * @since 0.1.0
 */
export * as Overhead from "./Overhead.js"

/**
 * @since 0.1.0
 */
export * as Recovery from "./Recovery.js"

/**
 * @since 0.1.0
 */
export * as Report from "./Report.js"

/**
 * @since 0.1.0
 */
export * as Servers from "./Servers.js"

/**
 * @since 0.1.0
 */
export * as Stats from "./Stats.js"

/**
 * @since 0.1.0
 */
export * as Peers from "./Peers.js"

/**
 * @since 0.1.0
 */
export * as Pool from "./Pool.js"
