import type { LoadJob } from './load.js';
import { generatorSaturated, measureHttp, percent, type BenchContext, type HttpMeasured } from './stack.js';

/** Each HTTP round re-opens its connections; this much of it is not counted. */
export const HTTP_ROUND_WARMUP_SECONDS = 0.25;

type HttpJob = Pick<LoadJob, 'url' | 'method' | 'headers' | 'body' | 'expectStatus' | 'expectBody'>;

/** HTTP load rounds of one job, for alternating with a baseline; `round` runs one and keeps its figures. */
export function httpRounds(ctx: BenchContext, job: HttpJob) {
  const rounds: HttpMeasured[] = [];
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
      const saturated = rounds.map((r) => r.generatorCores).filter(generatorSaturated);
      const others = [...new Set(rounds.flatMap((r) => r.problems))];
      return saturated.length > 0 ? [`load generator used up to ${percent(Math.max(...saturated))}% of a core in ${saturated.length} of ${rounds.length} rounds: may be the bottleneck`, ...others] : others;
    },
  };
}

const mean = (xs: readonly number[]): number => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
