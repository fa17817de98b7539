import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { issuersWithLiveTokens, recordIssued } from '../../agents/token-issuer/issued-tokens.js';
import { testPool } from '../support/db.js';
import { activeKid, POLICY_VERSION, world } from '../revocation/support.js';

const pool = testPool();
afterAll(() => pool.end());
const minutes = (n: number) => new Date(Date.now() + n * 60_000);

describe('issuersWithLiveTokens', () => {
  it("counts a subject's live tokens issued before a cutoff only, when one is given", async () => {
    const w = await world(pool);
    const kid = await activeKid(w);
    const sub = `client-${randomUUID()}`;
    const token = (iat: Date, exp: Date) => recordIssued(pool, { jti: randomUUID().replace(/-/g, ''), issuer: w.issuer, sub, clientId: sub, kid, iat, exp, policyVersion: POLICY_VERSION });
    await token(minutes(-2), minutes(10));

    expect(await issuersWithLiveTokens(pool, 'sub', sub)).toEqual([w.issuer]);
    expect(await issuersWithLiveTokens(pool, 'sub', sub, minutes(-5).toISOString())).toEqual([]);
    expect(await issuersWithLiveTokens(pool, 'sub', sub, minutes(-1).toISOString())).toEqual([w.issuer]);
  });
});
