import { afterAll, describe, expect, it } from 'vitest';
import type { KeyState } from '../../agents/key-manager/types.js';
import type { KeyManager } from '../../agents/key-manager/key-manager.js';
import { isKeyturnError } from '../../config/errors.js';
import { testPool } from '../support/db.js';
import { errorCode, keyIn, keyManager, newIssuer, opBase, rid } from './support.js';

const pool = testPool();
afterAll(() => pool.end());
const km = keyManager(pool);

type Method = 'activate' | 'retire' | 'revoke' | 'markFailed';
const target: Record<Method, KeyState> = { activate: 'active', retire: 'retired', revoke: 'revoked', markFailed: 'failed' };

function call(m: KeyManager, method: Method, kid: string, issuer: string): Promise<unknown> {
  switch (method) {
    case 'activate':
      return m.activate({ ...opBase(), issuer, kid });
    case 'retire':
      return m.retire({ ...opBase(), kid });
    case 'revoke':
      return m.revoke({ ...opBase(), kid, reason: 'spec' });
    case 'markFailed':
      return m.markFailed({ ...opBase(), kid, reason: 'spec' });
  }
}

// The allowed transitions from the specification; every other (state, method) pair is forbidden.
const ALLOWED = new Set([
  'pending→active', 'pending→failed', 'pending→revoked',
  'active→revoked', 'active→failed',
  'retiring→active', 'retiring→retired', 'retiring→revoked',
  'retired→revoked',
]);
const STATES: KeyState[] = ['pending', 'active', 'retiring', 'retired', 'revoked', 'failed'];
const METHODS: Method[] = ['activate', 'retire', 'revoke', 'markFailed'];
// Retiring a revoked key has nothing left to do (it left the JWKS when revoked): neither moved nor refused.
const SETTLED = new Set(['revoked→retired']);
const CASES = STATES.flatMap((from) => METHODS.map((method) => ({ from, method, to: target[method] })));

describe('KeyManager transitions', () => {
  it.each(CASES.filter((c) => ALLOWED.has(`${c.from}→${c.to}`)))('$method moves a $from key to $to', async ({ from, method, to }) => {
    const key = await keyIn(km, from);
    await call(km, method, key.kid, key.issuer);
    expect((await km.getKey(key.kid)).state).toBe(to);
  });

  it.each(CASES.filter((c) => !ALLOWED.has(`${c.from}→${c.to}`) && !SETTLED.has(`${c.from}→${c.to}`)))('$method refuses a $from key (→ $to) and leaves it unchanged', async ({ from, method, to }) => {
    const key = await keyIn(km, from);
    const err: unknown = await call(km, method, key.kid, key.issuer).then(() => undefined, (e: unknown) => e);
    expect(isKeyturnError(err, 'KEY_TRANSITION_FORBIDDEN')).toBe(true);
    expect((err as Error).message).toContain(`from ${from} to ${to}`);
    expect((await km.getKey(key.kid)).state).toBe(from);
  });

  it('retire leaves an already revoked key revoked and unchanged, recording that there was nothing to retire', async () => {
    const key = await keyIn(km, 'revoked');
    const requestId = rid();
    const returned = await km.retire({ ...opBase(), requestId, kid: key.kid });
    expect(returned).toEqual(key);
    expect(await km.getKey(key.kid)).toEqual(key);
    const entries = await pool.query<{ action: string; outcome: string; details: Record<string, unknown> }>('SELECT action, outcome, details FROM audit_log WHERE request_id = $1', [`key.retire:${requestId}`]);
    expect(entries.rows).toEqual([{ action: 'key.retire_skipped', outcome: 'ok', details: { state: 'revoked', unchanged: true } }]);
  });

  it('activating a key moves the previous active key to retiring', async () => {
    const old = await keyIn(km, 'active');
    const next = await keyIn(km, 'pending', old.issuer);
    const { active, previous } = await km.activate({ ...opBase(), issuer: old.issuer, kid: next.kid });
    expect([active.kid, active.state]).toEqual([next.kid, 'active']);
    expect([previous?.kid, previous?.state]).toEqual([old.kid, 'retiring']);
  });

  it('activating with previousTo revoked revokes the previous active key', async () => {
    const old = await keyIn(km, 'active');
    const next = await keyIn(km, 'pending', old.issuer);
    const { previous } = await km.activate({ ...opBase(), issuer: old.issuer, kid: next.kid, previousTo: 'revoked' });
    expect(previous?.state).toBe('revoked');
    expect(previous?.revokedAt).toBeDefined();
  });

  it('restorePrevious marks the failed key failed and the retiring key active again', async () => {
    const old = await keyIn(km, 'active');
    const next = await keyIn(km, 'pending', old.issuer);
    await km.activate({ ...opBase(), issuer: old.issuer, kid: next.kid });
    const { active, failed } = await km.restorePrevious({ ...opBase(), issuer: old.issuer, previousKid: old.kid, failedKid: next.kid, reason: 'validators rejected it' });
    expect([active.kid, active.state, failed.kid, failed.state]).toEqual([old.kid, 'active', next.kid, 'failed']);
    expect(failed.stateReason).toBe('validators rejected it');
    expect((await km.activeKey(old.issuer))?.kid).toBe(old.kid);
  });

  it('restorePrevious refuses a previous key that is not retiring', async () => {
    const old = await keyIn(km, 'retired');
    const bad = await km.activeKey(old.issuer);
    expect(await errorCode(km.restorePrevious({ ...opBase(), issuer: old.issuer, previousKid: old.kid, failedKid: bad!.kid, reason: 'x' }))).toBe('KEY_TRANSITION_FORBIDDEN');
    expect((await km.getKey(bad!.kid)).state).toBe('active');
  });

  it('an unknown kid is KEY_NOT_FOUND', async () => {
    expect(await errorCode(km.revoke({ ...opBase(), kid: 'A'.repeat(43), reason: 'x' }))).toBe('KEY_NOT_FOUND');
  });

  it('activating a kid under the wrong issuer is KEY_NOT_FOUND', async () => {
    const key = await keyIn(km, 'pending');
    expect(await errorCode(km.activate({ ...opBase(), issuer: newIssuer(), kid: key.kid }))).toBe('KEY_NOT_FOUND');
  });
});
