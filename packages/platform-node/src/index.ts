/**
 * @since 0.1.0
 */
export * as NodeMcpTransport from "./NodeMcpTransport.js"
