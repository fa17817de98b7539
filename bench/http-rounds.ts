import type { LoadJob } from './load.js';
import { measureHttp, type BenchContext } from './stack.js';

/** Each HTTP round re-opens its connections; this much of it is not counted. */
export const HTTP_ROUND_WARMUP_SECONDS = 0.25;

const GENERATOR_NOTE = /^load generator used (\d+)% of a core/;

type HttpJob = Pick<LoadJob, 'url' | 'method' | 'headers' | 'body' | 'expectStatus' | 'expectBody'>;

/** HTTP load rounds of one job, for alternating with a baseline; `round` runs one and keeps its figures. */
export function httpRounds(ctx: BenchContext, job: HttpJob) {
  const rounds: Array<{ opsPerSec: number; serverCpuMicros: number; note?: string }> = [];
  return {
    round: async (seconds: number): Promise<number> => {
      const r = await measureHttp({ ...ctx, timing: { seconds, warmupSeconds: HTTP_ROUND_WARMUP_SECONDS } }, job);
      rounds.push(r);
      return r.opsPerSec;
    },
    opsPerSec: (): number => mean(rounds.map((r) => r.opsPerSec)),
    serverCpuMicros: (): number => mean(rounds.map((r) => r.serverCpuMicros)),
    /** The rounds' notes other than their CPU figure (failed requests, a saturated load generator), once each. */
    problems: (): string[] => {
      const notes = rounds.flatMap((r) => (r.note ?? '').split('; ')).filter((n) => n !== '' && !n.startsWith('server CPU'));
      const generator = notes.map((n) => GENERATOR_NOTE.exec(n)?.[1]).filter((p): p is string => p !== undefined).map(Number);
      const others = [...new Set(notes.filter((n) => !GENERATOR_NOTE.test(n)))];
      return generator.length > 0 ? [`load generator used up to ${Math.max(...generator)}% of a core in ${generator.length} of ${rounds.length} rounds: may be the bottleneck`, ...others] : others;
    },
  };
}

const mean = (xs: readonly number[]): number => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
