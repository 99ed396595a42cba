/**
 * The entry point of the crash measure in its own process: `node --expose-gc --import tsx crashChild.ts
 * '<Crash.Options as JSON>'` prints `RESULT <rows>` (see `Child.encode`).
 *
 * @since 0.1.0
 */
import * as Child from "./Child.js"
import * as Crash from "./Crash.js"

Child.main(Crash.run(JSON.parse(process.argv[2] ?? "null") as Crash.Options))
