import { describe, expect, it } from 'vitest';
import { FailureLimiter } from './failure-limiter.js';

function limiter(maxFailures = 3) {
  let now = 1_000_000;
  const l = new FailureLimiter({ maxFailures, windowMs: 60_000, now: () => now });
  return { l, advance: (ms: number) => void (now += ms) };
}

describe('FailureLimiter', () => {
  it('does not block below the limit', () => {
    const { l } = limiter();
    l.fail(['a']);
    l.fail(['a']);
    expect(l.retryAfter(['a'])).toBe(0);
  });

  it('blocks a key at the limit, for the time until its oldest failure leaves the window', () => {
    const { l, advance } = limiter();
    l.fail(['a']);
    advance(10_000);
    l.fail(['a']);
    l.fail(['a']);
    expect(l.retryAfter(['a'])).toBe(50);
  });

  it('unblocks once failures slide out of the window', () => {
    const { l, advance } = limiter();
    for (let i = 0; i < 3; i++) l.fail(['a']);
    advance(60_001);
    expect(l.retryAfter(['a'])).toBe(0);
  });

  it('blocks when any of the given keys is blocked, and only those', () => {
    const { l } = limiter();
    for (let i = 0; i < 3; i++) l.fail(['ip:1', `client:${i}`]);
    expect(l.retryAfter(['ip:1', 'client:new'])).toBeGreaterThan(0);
    expect(l.retryAfter(['ip:2', 'client:0'])).toBe(0);
  });

  it('forgets the oldest keys beyond maxKeys', () => {
    const l = new FailureLimiter({ maxFailures: 1, maxKeys: 2 });
    l.fail(['a']);
    l.fail(['b']);
    l.fail(['c']);
    expect(l.retryAfter(['a'])).toBe(0);
    expect(l.retryAfter(['c'])).toBeGreaterThan(0);
  });
  it('counts checks in progress towards the limit, blocking for a second, and stops counting them once released', () => {
    const limiter = new FailureLimiter({ maxFailures: 3, now: () => 1_000 });
    const held = [limiter.hold(['ip']), limiter.hold(['ip'])];
    limiter.fail(['ip']);
    expect(limiter.retryAfter(['ip'])).toBe(1);
    held[0]!.release();
    held[0]!.release();
    expect(limiter.retryAfter(['ip'])).toBe(0);
    held[1]!.release();
    limiter.fail(['ip']);
    expect(limiter.retryAfter(['ip'])).toBe(0);
  });
});
