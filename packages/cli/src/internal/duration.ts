import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

const units: Record<string, number> = {
  ms: 1,
  millis: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000
}

/** `500ms`, `30s`, `1.5 s`, `2m`, `1 hour`; a bare number is seconds. Must be positive. */
export const parseDuration = (input: string): Option.Option<Duration.Duration> => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(input)
  if (match === null) return Option.none()
  const amount = Number(match[1])
  const unit = match[2]!.toLowerCase()
  const factor = unit === "" ? 1000 : units[unit]
  if (factor === undefined || !(amount > 0)) return Option.none()
  return Option.some(Duration.millis(amount * factor))
}
