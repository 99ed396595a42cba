/**
 * @since 0.1.0
 */
export * as NodeMcpTransport from "./NodeMcpTransport.js"

/**
 * @since 0.1.0
 */
export * as NodeMcpServers from "./NodeMcpServers.js"
