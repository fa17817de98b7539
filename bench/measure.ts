import { performance } from 'node:perf_hooks';

/** How long each row runs: a warm-up (not counted), then the timed part. */
export interface Timing {
  seconds: number;
  warmupSeconds: number;
}

export interface MeasureOptions {
  /** In-flight operations for async ops (default 1). */
  concurrency?: number;
  /** Total operations available (e.g. a pool of never-seen tokens): the row stops early when they run out. */
  limit?: number;
  /** At most this many operations in the warm-up (default: no cap besides `limit`). */
  warmupLimit?: number;
}

export interface Measured {
  opsPerSec: number;
  count: number;
  elapsedMs: number;
  /** True when `limit` ended the timed part before `seconds` did. */
  exhausted: boolean;
}

/** A synchronous operation, called with a running index, in a tight loop. */
export function measureSync(op: (i: number) => unknown, t: Timing, o: MeasureOptions = {}): Measured {
  const limit = o.limit ?? Number.POSITIVE_INFINITY;
  const warmLimit = Math.min(limit, o.warmupLimit ?? limit);
  let i = 0;
  const warmEnd = performance.now() + t.warmupSeconds * 1000;
  while (i < warmLimit && performance.now() < warmEnd) op(i++);
  const start = performance.now();
  const stop = start + t.seconds * 1000;
  let n = 0;
  let now = start;
  while (i < limit) {
    op(i++);
    n++;
    now = performance.now();
    if (now >= stop) break;
  }
  const elapsedMs = now - start;
  return { opsPerSec: elapsedMs > 0 ? (n * 1000) / elapsedMs : 0, count: n, elapsedMs, exhausted: i >= limit && now < stop };
}

/** An async operation, `concurrency` of them in flight, each loop starting the next when one settles. */
export async function measureAsync(op: (i: number) => Promise<unknown>, t: Timing, o: MeasureOptions = {}): Promise<Measured> {
  const limit = o.limit ?? Number.POSITIVE_INFINITY;
  const concurrency = Math.max(1, o.concurrency ?? 1);
  let i = 0;
  const phase = async (ms: number, max: number): Promise<{ n: number; elapsedMs: number }> => {
    const start = performance.now();
    const end = start + ms;
    let n = 0;
    const loop = async () => {
      while (i < max && performance.now() < end) {
        await op(i++);
        n++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
    return { n, elapsedMs: performance.now() - start };
  };
  await phase(t.warmupSeconds * 1000, Math.min(limit, o.warmupLimit ?? limit));
  const { n, elapsedMs } = await phase(t.seconds * 1000, limit);
  return { opsPerSec: elapsedMs > 0 ? (n * 1000) / elapsedMs : 0, count: n, elapsedMs, exhausted: i >= limit && elapsedMs < t.seconds * 1000 };
}

/** A short note for rows whose sample is small or was cut short. */
export function sampleNote(m: Measured): string | undefined {
  if (m.exhausted) return `token pool ran out: n=${m.count} in ${m.elapsedMs.toFixed(0)} ms`;
  if (m.count < 50) return `n=${m.count}`;
  return undefined;
}
