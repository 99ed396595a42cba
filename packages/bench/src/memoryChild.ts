/**
 * The entry point of a memory sample in its own process: `node --expose-gc --import tsx memoryChild.ts
 * '<Spec as JSON>'` prints `RESULT <json>` (see `Child.encode`).
 *
 * @since 0.1.0
 */
import * as Child from "./Child.js"
import * as Memory from "./Memory.js"

Child.main(Memory.runSpec(JSON.parse(process.argv[2] ?? "null") as Memory.Spec))
