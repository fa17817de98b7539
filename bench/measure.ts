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
  /** Operations called, warm-up included (the next free index into a pool). */
  used: number;
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
  return { opsPerSec: elapsedMs > 0 ? (n * 1000) / elapsedMs : 0, count: n, elapsedMs, exhausted: i >= limit && now < stop, used: i };
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
  return { opsPerSec: elapsedMs > 0 ? (n * 1000) / elapsedMs : 0, count: n, elapsedMs, exhausted: i >= limit && elapsedMs < t.seconds * 1000, used: i };
}

export interface Paired {
  /** The subject over all its rounds. */
  subject: Measured;
  /** subject ÷ baseline in each round, in round order. */
  ratios: number[];
  /** The median of `ratios`: what the table reports. */
  ratio: number;
}

export const PAIRED_ROUNDS = 5;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Runs `baseline` then `subject` back to back, `rounds` times, each with `slice` (its share of the
 * row's seconds, no warm-up): on a machine whose speed drifts (shared cores, frequency changes)
 * each round compares like with like, and the median round ignores one disturbed round. Each
 * callback returns its ops/s for the round, or undefined when it had nothing left to measure.
 */
export async function alternateRounds(
  t: Timing,
  rounds: number,
  baseline: (slice: Timing) => number | Promise<number>,
  subject: (slice: Timing) => Promise<number | undefined>,
): Promise<{ ratios: number[]; ratio: number }> {
  const slice: Timing = { seconds: t.seconds / rounds, warmupSeconds: 0 };
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const base = await baseline(slice);
    const ops = await subject(slice);
    if (ops === undefined) break;
    if (base > 0 && ops > 0) ratios.push(ops / base);
  }
  return { ratios, ratio: ratios.length > 0 ? median(ratios) : 0 };
}

/** A baseline that runs on the thread pool: `concurrency` calls in flight, as its subject makes them. */
export interface AsyncBaseline {
  async: (i: number) => Promise<unknown>;
  concurrency: number;
}

/**
 * A subject against its baseline in alternating rounds ({@link alternateRounds}).
 * Both warm up once first. A `limit` (a pool of operations) is split evenly over the rounds, so a
 * small pool (RSA-signed tokens) still yields every round.
 */
export async function measurePaired(
  baseline: ((i: number) => unknown) | AsyncBaseline,
  subject: (i: number) => Promise<unknown>,
  t: Timing,
  o: MeasureOptions & { rounds?: number } = {},
): Promise<Paired> {
  const rounds = Math.max(1, o.rounds ?? PAIRED_ROUNDS);
  const limit = o.limit ?? Number.POSITIVE_INFINITY;
  const concurrency = o.concurrency ?? 1;
  const measureBaseline = async (slice: Timing): Promise<number> =>
    typeof baseline === 'function' ? measureSync(baseline, slice).opsPerSec : (await measureAsync(baseline.async, slice, { concurrency: baseline.concurrency })).opsPerSec;
  await measureBaseline({ seconds: 0, warmupSeconds: t.warmupSeconds });
  let next = (await measureAsync(subject, { seconds: 0, warmupSeconds: t.warmupSeconds }, { concurrency, limit, ...(o.warmupLimit !== undefined ? { warmupLimit: o.warmupLimit } : {}) })).used;
  const perRound = Math.ceil((limit - next) / rounds);
  let count = 0;
  let elapsedMs = 0;
  let exhausted = false;
  const { ratios, ratio } = await alternateRounds(
    t,
    rounds,
    measureBaseline,
    async (slice) => {
      if (next >= limit) return undefined;
      const offset = next;
      const m = await measureAsync((i) => subject(offset + i), slice, { concurrency, limit: Math.min(limit - offset, perRound) });
      next += m.used;
      count += m.count;
      elapsedMs += m.elapsedMs;
      exhausted ||= m.exhausted;
      return m.count > 0 ? m.opsPerSec : 0;
    },
  );
  const subjectM: Measured = { opsPerSec: elapsedMs > 0 ? (count * 1000) / elapsedMs : 0, count, elapsedMs, exhausted, used: next };
  return { subject: subjectM, ratios, ratio };
}

/** How a paired row's ratio was found, for its note. */
export function pairedNote(p: Pick<Paired, 'ratios'>): string {
  if (p.ratios.length === 0) return 'no round completed';
  const lo = Math.min(...p.ratios);
  const hi = Math.max(...p.ratios);
  return `ratio: median of ${p.ratios.length} rounds alternating with the baseline (${lo.toFixed(2)}–${hi.toFixed(2)}×)`;
}

/** A short note for rows whose sample is small or was cut short. */
export function sampleNote(m: Measured): string | undefined {
  if (m.exhausted) return `token pool ran out: n=${m.count} in ${m.elapsedMs.toFixed(0)} ms`;
  if (m.count < 50) return `n=${m.count}`;
  return undefined;
}
