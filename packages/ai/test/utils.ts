// one copy of the helpers that find and watch server-everything, kept with the transports' tests
export { childPids, serverEverything } from "../../platform-node/test/utils.js"

export const clientInfo = { name: "ai-test", version: "0.0.0" }
