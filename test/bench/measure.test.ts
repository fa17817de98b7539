import { describe, expect, it } from 'vitest';
import { measurePaired, PAIRED_ROUNDS } from '../../bench/measure.js';

const quick = { seconds: 0.05, warmupSeconds: 0.01 };

describe('measurePaired', () => {
  it('reports the median of its per-round ratios', async () => {
    const p = await measurePaired(() => Math.sqrt(2), async () => Math.sqrt(3), quick);
    const sorted = [...p.ratios].sort((a, b) => a - b);
    expect(p.ratios).toHaveLength(PAIRED_ROUNDS);
    expect(p.ratio).toBe(sorted[Math.floor(sorted.length / 2)]);
  });

  it('uses each pooled operation at most once across the warm-up and every round', async () => {
    const seen: number[] = [];
    const p = await measurePaired(() => 0, async (i) => void seen.push(i), quick, { limit: 1000, warmupLimit: 100 });
    expect(new Set(seen).size).toBe(seen.length);
    expect(Math.max(...seen)).toBeLessThan(1000);
    expect(p.subject.used).toBe(seen.length);
  });

  it('splits a small pool over the rounds so every round measures the subject', async () => {
    const p = await measurePaired(() => 0, async () => undefined, { seconds: 0.5, warmupSeconds: 0 }, { limit: 50 });
    expect(p.ratios).toHaveLength(PAIRED_ROUNDS);
    expect(p.subject.count).toBe(50);
    expect(p.subject.exhausted).toBe(true);
  });
});
