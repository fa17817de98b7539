import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { codeOf } from '../support/error-code.js';
import { containKeyCompromise } from '../../agents/revocation-responder/containment.js';
import { testPool } from '../support/db.js';
import { actor as keyActor } from '../issuer/support.js';
import { activeKid, base, client, pendingKid, world, POLICY_VERSION, type World } from './support.js';

const pool = testPool();
afterAll(() => pool.end());

const keyOp = () => ({ requestId: `t-${randomUUID()}`, policyVersion: POLICY_VERSION, actor: keyActor });


/** A rotation's activation of its new key (KeyManager's default: the previous key goes retiring). */
async function rotationActivates(w: World): Promise<string> {
  const next = await pendingKid(w);
  await w.km.activate({ ...keyOp(), issuer: w.issuer, kid: next });
  return next;
}

const states = async (w: World) => Object.fromEntries((await w.km.listKeys({ issuer: w.issuer })).map((k) => [k.kid, k.state]));

describe('a key contained as compromised while a rotation moves keys', () => {
  it('a rotation cannot restore the contained key: restorePrevious is refused and its new key stays active', async () => {
    const w = await world(pool);
    const compromised = await activeKid(w);
    const next = await rotationActivates(w);
    await containKeyCompromise(pool, { ...base, issuer: w.issuer, kid: compromised, reason: 'key seen in a paste' });

    expect(await codeOf(() => w.km.restorePrevious({ ...keyOp(), issuer: w.issuer, previousKid: compromised, failedKid: next, reason: 'canary failed' }))).toBe('KEY_DENY_LISTED');
    expect(await states(w)).toEqual({ [compromised]: 'retiring', [next]: 'active' });
    const owner = await client(pool);
    expect((await w.tokens.issue({ issuer: w.issuer, clientId: owner.clientId, authentication: 'in-process' })).kid).toBe(next);
  });

  it("a revocation's emergency activation naming the contained key is refused once a rotation has replaced it, leaving the rotation's key active", async () => {
    const w = await world(pool);
    const compromised = await activeKid(w);
    await containKeyCompromise(pool, { ...base, issuer: w.issuer, kid: compromised, reason: 'key seen in a paste' });
    const next = await rotationActivates(w);
    const emergency = await pendingKid(w);

    expect(await codeOf(() => w.km.activate({ ...keyOp(), issuer: w.issuer, kid: emergency, previousTo: 'revoked', expectedPreviousKid: compromised }))).toBe('KEY_ACTIVE_CHANGED');
    expect(await states(w)).toEqual({ [compromised]: 'retiring', [next]: 'active', [emergency]: 'pending' });
  });
});
