/**
 * @since 0.1.0
 */
export * as McpClientHandlers from "./McpClientHandlers.js"

/**
 * @since 0.1.0
 */
export * as McpError from "./McpError.js"

/**
 * @since 0.1.0
 */
export * as McpSession from "./McpSession.js"

/**
 * @since 0.1.0
 */
export * as McpTransport from "./McpTransport.js"

/**
 * @since 0.1.0
 */
export * as McpTest from "./McpTest.js"

/**
 * @since 0.1.0
 */
export * as McpSessionPolicy from "./McpSessionPolicy.js"

/**
 * @since 0.1.0
 */
export * as McpMetrics from "./McpMetrics.js"

/**
 * @since 0.1.0
 */
export * as McpServers from "./McpServers.js"

/**
 * @since 0.1.0
 */
export * as McpSessionPool from "./McpSessionPool.js"

/**
 * @since 0.1.0
 */
export * as McpToolset from "./McpToolset.js"
