import { KeyturnError } from '../../config/errors.js';
import type { KeyState } from './types.js';

export const KEY_STATES: readonly KeyState[] = ['pending', 'active', 'retiring', 'retired', 'revoked', 'failed'];

/** Every state change a key may make; anything else is refused. Mirrored by the signing_keys trigger. */
export const ALLOWED_TRANSITIONS: Readonly<Record<KeyState, readonly KeyState[]>> = {
  pending: ['active', 'failed', 'revoked'],
  active: ['retiring', 'revoked', 'failed'],
  retiring: ['active', 'retired', 'revoked'],
  retired: ['revoked'],
  revoked: [],
  failed: [],
};

export function isTransitionAllowed(from: KeyState, to: KeyState): boolean {
  return ALLOWED_TRANSITIONS[from]?.includes(to) ?? false;
}

/** Throws KEY_TRANSITION_FORBIDDEN naming both states unless `from → to` is in the table. */
export function assertTransition(kid: string, from: KeyState, to: KeyState): void {
  if (!isTransitionAllowed(from, to)) {
    throw new KeyturnError(
      'KEY_TRANSITION_FORBIDDEN',
      `key ${kid} cannot go from ${from} to ${to}`,
      `Allowed from ${from}: ${ALLOWED_TRANSITIONS[from]?.join(', ') || 'nothing (terminal state)'}.`,
      { kid, from, to },
    );
  }
}
