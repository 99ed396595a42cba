#!/usr/bin/env node
// The sources are TypeScript, run without a build step: tsx compiles them as they are imported.
import { register } from "tsx/esm/api"

register()
await import("../src/bin.ts")
