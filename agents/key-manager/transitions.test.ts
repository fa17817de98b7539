import { describe, expect, it } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import { assertTransition, isTransitionAllowed } from './transitions.js';
import type { KeyState } from './types.js';

// The specification, written out independently of the implementation's table.
const ALLOWED: Array<[KeyState, KeyState]> = [
  ['pending', 'active'], ['pending', 'failed'], ['pending', 'revoked'],
  ['active', 'retiring'], ['active', 'revoked'], ['active', 'failed'],
  ['retiring', 'active'], ['retiring', 'retired'], ['retiring', 'revoked'],
  ['retired', 'revoked'],
];
const STATES: KeyState[] = ['pending', 'active', 'retiring', 'retired', 'revoked', 'failed'];
const FORBIDDEN = STATES.flatMap((from) => STATES.map((to) => [from, to] as [KeyState, KeyState])).filter(
  ([from, to]) => !ALLOWED.some(([f, t]) => f === from && t === to),
);

describe('transition table', () => {
  it.each(ALLOWED)('allows %s → %s', (from, to) => {
    expect(isTransitionAllowed(from, to)).toBe(true);
    expect(() => assertTransition('kid1', from, to)).not.toThrow();
  });

  it.each(FORBIDDEN)('forbids %s → %s with KEY_TRANSITION_FORBIDDEN naming both states', (from, to) => {
    expect(isTransitionAllowed(from, to)).toBe(false);
    let err: unknown;
    try {
      assertTransition('kid1', from, to);
    } catch (e) {
      err = e;
    }
    expect(isKeyturnError(err, 'KEY_TRANSITION_FORBIDDEN')).toBe(true);
    expect((err as Error).message).toContain(`from ${from} to ${to}`);
  });
});
