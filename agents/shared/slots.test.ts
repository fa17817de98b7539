import { describe, expect, it } from 'vitest';
import { Slots } from './slots.js';

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('Slots', () => {
  it('runs at most its size of tasks at once', async () => {
    const slots = new Slots(2);
    let running = 0;
    let most = 0;
    const gates = Array.from({ length: 5 }, gate);
    const done = gates.map((g) =>
      slots.run(async () => {
        running++;
        most = Math.max(most, running);
        await g.promise;
        running--;
      }),
    );
    await new Promise((r) => setImmediate(r));
    expect(running).toBe(2);
    gates.forEach((g) => g.open());
    await Promise.all(done);
    expect(most).toBe(2);
  });

  it('starts waiting tasks in the order they arrived', async () => {
    const slots = new Slots(1);
    const started: number[] = [];
    await Promise.all([1, 2, 3].map((n) => slots.run(async () => void started.push(n))));
    expect(started).toEqual([1, 2, 3]);
  });

  it('frees the slot of a task that fails', async () => {
    const slots = new Slots(1);
    await expect(slots.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(slots.run(async () => 'next')).resolves.toBe('next');
  });

  it('refuses a size that is not a positive integer', () => {
    expect(() => new Slots(0)).toThrow(RangeError);
  });

  it('refuses a task once maxWaiting tasks wait, with the whenFull error, and never runs it', async () => {
    const slots = new Slots(1, { maxWaiting: 2, whenFull: () => new Error('busy') });
    const g = gate();
    const queued = [slots.run(() => g.promise), slots.run(async () => 'a'), slots.run(async () => 'b')];
    let ran = false;
    await expect(slots.run(async () => void (ran = true))).rejects.toThrow('busy');
    expect([ran, slots.waiting]).toEqual([false, 2]);
    g.open();
    expect(await Promise.all(queued)).toEqual([undefined, 'a', 'b']);
  });

  it('takes tasks again once the waiting line has room', async () => {
    const slots = new Slots(1, { maxWaiting: 0 });
    const g = gate();
    const first = slots.run(() => g.promise);
    await expect(slots.run(async () => 'refused')).rejects.toThrow(RangeError);
    g.open();
    await first;
    await expect(slots.run(async () => 'next')).resolves.toBe('next');
  });

  it('skips a waiting task whose signal aborted before its turn, and hands the slot to the next', async () => {
    const slots = new Slots(1);
    const g = gate();
    const ac = new AbortController();
    const ran: string[] = [];
    const first = slots.run(() => g.promise);
    const abandoned = slots.run(async () => void ran.push('abandoned'), ac.signal);
    const next = slots.run(async () => void ran.push('next'));
    ac.abort(new Error('caller gone'));
    g.open();
    await first;
    await expect(abandoned).rejects.toThrow('caller gone');
    await next;
    expect(ran).toEqual(['next']);
  });

  it('refuses a task whose signal has already aborted without taking a slot', async () => {
    const slots = new Slots(1);
    await expect(slots.run(async () => 'x', AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    await expect(slots.run(async () => 'free')).resolves.toBe('free');
  });
});
