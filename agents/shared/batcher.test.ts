import { describe, expect, it } from 'vitest';
import { Batcher } from './batcher.js';

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Resolves after the current turn of the event loop, once the batcher has started what was submitted in it. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A batcher that doubles numbers, keeps each call's items, and waits for `hold` (if set) before answering. */
function doubling(o: { maxBatch?: number } = {}) {
  const calls: number[][] = [];
  let hold: Promise<void> | undefined;
  const batcher = new Batcher<number, number>(async (items) => {
    calls.push([...items]);
    await hold;
    return items.map((n) => n * 2);
  }, o);
  return { batcher, calls, holdWith: (p: Promise<void> | undefined) => (hold = p) };
}

describe('Batcher', () => {
  it('runs a lone item in a call of its own', async () => {
    const { batcher, calls } = doubling();
    expect(await batcher.submit(4)).toBe(8);
    expect(calls).toEqual([[4]]);
  });

  it('runs items submitted in the same turn of the event loop in one call', async () => {
    const { batcher, calls } = doubling();
    expect(await Promise.all([1, 2, 3].map((n) => batcher.submit(n)))).toEqual([2, 4, 6]);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('runs items submitted while a call is in flight together, in the next call', async () => {
    const { batcher, calls, holdWith } = doubling();
    const g = gate();
    holdWith(g.promise);
    const first = batcher.submit(1);
    await nextTurn();
    const later = [batcher.submit(2), batcher.submit(3), batcher.submit(4)];
    holdWith(undefined);
    g.open();
    expect(await Promise.all([first, ...later])).toEqual([2, 4, 6, 8]);
    expect(calls).toEqual([[1], [2, 3, 4]]);
  });

  it('never answers an item from a call that began before it was submitted', async () => {
    const { batcher, calls, holdWith } = doubling();
    const g = gate();
    holdWith(g.promise);
    const first = batcher.submit(1);
    await nextTurn();
    const late = batcher.submit(1);
    holdWith(undefined);
    g.open();
    await Promise.all([first, late]);
    expect(calls).toEqual([[1], [1]]);
  });

  it('lets a caller answered by a call submit again before the next call starts', async () => {
    const { batcher, calls, holdWith } = doubling();
    const g = gate();
    holdWith(g.promise);
    const again = batcher.submit(1).then(() => batcher.submit(3));
    await nextTurn();
    const waiting = batcher.submit(2);
    holdWith(undefined);
    g.open();
    expect(await Promise.all([again, waiting])).toEqual([6, 4]);
    expect(calls).toEqual([[1], [2, 3]]);
  });

  it('splits waiting items into calls of at most maxBatch', async () => {
    const { batcher, calls, holdWith } = doubling({ maxBatch: 2 });
    const g = gate();
    holdWith(g.promise);
    const all = [0, 1, 2, 3, 4].map((n) => batcher.submit(n));
    holdWith(undefined);
    g.open();
    await Promise.all(all);
    expect(calls).toEqual([[0, 1], [2, 3], [4]]);
  });

  it('rejects every item of a failed call, and runs the next call normally', async () => {
    const g = gate();
    let calls = 0;
    const batcher = new Batcher<number, number>(async (items) => {
      calls++;
      if (calls === 1) await g.promise;
      if (calls === 2) throw new Error('database down');
      return items;
    });
    const first = batcher.submit(0);
    await nextTurn();
    const failed = [batcher.submit(1), batcher.submit(2)];
    g.open();
    expect(await first).toBe(0);
    await Promise.all(failed.map((p) => expect(p).rejects.toThrow('database down')));
    expect(await batcher.submit(3)).toBe(3);
  });

  it('refuses an item at once while maxWaiting items wait, with the busy error', async () => {
    const g = gate();
    const batcher = new Batcher<number, number>(async (items) => {
      await g.promise;
      return items;
    }, { maxWaiting: 2, busy: () => new Error('busy') });
    const running = batcher.submit(0);
    await nextTurn();
    const waiting = [batcher.submit(1), batcher.submit(2)];
    await expect(batcher.submit(3)).rejects.toThrow('busy');
    g.open();
    expect(await Promise.all([running, ...waiting])).toEqual([0, 1, 2]);
  });

  it('rejects a call that answers the wrong number of results with BATCH_RESULT_MISMATCH', async () => {
    const batcher = new Batcher<number, number>(async () => []);
    await expect(batcher.submit(1)).rejects.toMatchObject({ code: 'BATCH_RESULT_MISMATCH' });
  });

  it('tells when it goes idle, at the end of the turn its last call answered in, and is idle then', async () => {
    let idled = 0;
    const batcher = new Batcher<number, number>(async (items) => items, { onIdle: () => idled++ });
    await batcher.submit(1);
    expect(idled).toBe(0);
    await nextTurn();
    expect(idled).toBe(1);
    expect(batcher.idle).toBe(true);
  });
});
