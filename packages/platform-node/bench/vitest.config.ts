import { defineProject } from "vitest/config"

// Not part of the workspace's test run (the workspace globs packages/*/vitest.config.ts): the latency
// measurements run on demand, with `pnpm --filter @effect-mcp/platform-node bench`.
export default defineProject({
  test: {
    name: "platform-node-latency",
    include: ["bench/**/*.test.ts"],
    testTimeout: 600_000
  }
})
