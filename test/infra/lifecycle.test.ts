import { afterEach, describe, expect, it, vi } from 'vitest';
import { Lifecycle } from '../../infra/lifecycle.js';

describe('Lifecycle', () => {
  afterEach(() => vi.restoreAllMocks());

  function quietLifecycle(): { life: Lifecycle; lines: string[]; exit: ReturnType<typeof vi.spyOn> } {
    const lines: string[] = [];
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    return { life: new Lifecycle((l) => lines.push(l)), lines, exit };
  }

  it('stops its parts newest first, then says it stopped and exits with the given code', async () => {
    const { life, lines, exit } = quietLifecycle();
    const order: string[] = [];
    life.add('first', async () => void order.push('first'));
    life.add('second', async () => void order.push('second'));
    await life.shutdown(0);
    expect(order).toEqual(['second', 'first']);
    expect(lines.at(-1)).toBe('[keyturn] stopped');
    expect(exit).toHaveBeenCalledWith(0);
  });

  it('reports it is stopping from the moment shutdown begins, while its parts are still being stopped', async () => {
    const { life } = quietLifecycle();
    const seen: boolean[] = [];
    expect(life.isStopping).toBe(false);
    life.add('part', async () => void seen.push(life.isStopping));
    await life.shutdown(0);
    expect(seen).toEqual([true]);
  });

  it('a part that fails to stop is named and the parts after it are still stopped', async () => {
    const { life, lines } = quietLifecycle();
    const stopped: string[] = [];
    life.add('database', async () => void stopped.push('database'));
    life.add('worker', async () => {
      throw new Error('connection lost');
    });
    await life.shutdown(1);
    expect(lines).toContain('[keyturn] stopping worker failed: connection lost');
    expect(stopped).toEqual(['database']);
  });
});
