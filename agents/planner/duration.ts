/**
 * Human durations in the policy document: a whole number and one unit — `30s`, `10m`, `1h`, `90d`.
 * Bare numbers are refused on purpose: `600` could mean seconds or milliseconds, and a policy that
 * decides how long a signing key lives must not be ambiguous.
 */
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
type Unit = keyof typeof UNIT_SECONDS;

const DURATION = /^(\d{1,9})([smhd])$/;

/** "30s" | "10m" | "1h" | "90d" → whole seconds; undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_SECONDS[m[2] as Unit];
}

/** Seconds → the largest unit that divides them exactly: 600 → "10m", 90 → "90s". */
export function formatDuration(seconds: number): string {
  for (const unit of ['d', 'h', 'm'] as const) {
    const size = UNIT_SECONDS[unit];
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
