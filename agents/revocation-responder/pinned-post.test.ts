import { describe, expect, it } from 'vitest';
import { limitedResolve, systemResolve, type ResolvedAddress } from './pinned-post.js';

describe('subscriber host lookups', () => {
  it('run at most the given number at once, the others waiting their turn', async () => {
    let running = 0;
    let most = 0;
    const slow = async (): Promise<ResolvedAddress[]> => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      return [{ address: '93.184.216.34', family: 4 }];
    };
    const resolve = limitedResolve(slow, 2);

    const answers = await Promise.all(Array.from({ length: 7 }, (_, i) => resolve(`host-${i}.example`)));

    expect(most).toBe(2);
    expect(answers).toHaveLength(7);
  });

  it('resolve through the system resolver, /etc/hosts included', async () => {
    expect((await systemResolve('localhost')).map((a) => a.address)).toEqual(expect.arrayContaining([expect.stringMatching(/^(127\.0\.0\.1|::1)$/)]));
  });
});
