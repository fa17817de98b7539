import { randomUUID } from 'node:crypto';
import { exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { fixedClock } from '../../agents/shared/clock.js';
import { RevocationCache, pgListener, revoke } from '../../agents/validator/revocation-list.js';
import { testPool, unique } from '../support/db.js';
import { ATTACK_ALGORITHMS, attackCorpus } from './attack-corpus.js';
import { expectRejected, ISSUER, jwksServer, localServer, T0, testKey, token, validatorFor, type LocalServer, type TestKey } from './support.js';

// Keys at collection time: the corpus names one test per attack.
const [rsa, ec, attacker] = await Promise.all([testKey('RS256'), testKey('ES256'), testKey('ES256')]);
const corpus = attackCorpus({ rsa, ec, attacker, attackerJwk: await exportJWK(attacker.publicKey) });
const groups = [...new Set(corpus.map((c) => c.group))];

let canary: LocalServer;
let jwks: LocalServer;

beforeAll(async () => {
  canary = await localServer();
  jwks = await jwksServer(() => [rsa.publicJwk, ec.publicJwk]);
});
afterAll(async () => {
  await canary.close();
  await jwks.close();
});

/** The validator under attack: RS256/PS256/ES256 allowed by policy, our RS256 and ES256 keys. */
const v = () => validatorFor([rsa, ec], { algorithms: [...ATTACK_ALGORITHMS] });
/** Same policy, keys from the local JWKS server (so any network contact is observable). */
const remote = () => validatorFor([rsa, ec], { algorithms: [...ATTACK_ALGORITHMS], keys: undefined, jwksUri: `${jwks.url}/jwks` });

describe('a valid token', () => {
  it('is accepted', async () => {
    await expect(v().verify(token(ec))).resolves.toMatchObject({ kid: ec.kid, iss: ISSUER });
  });
});

describe.each(groups)('%s', (group) => {
  it.each(corpus.filter((c) => c.group === group))('$name', (c) => expectRejected(v().verify(c.token), c.code));
});

describe('key-locating headers are never contacted', () => {
  it('refuses a jku header and never contacts it', async () => {
    const t = token(attacker, { header: { jku: `${canary.url}/jku`, kid: attacker.kid } });
    await expectRejected(remote().verify(t), 'HEADER_JKU_FORBIDDEN');
    expect(canary.hits.filter((h) => h.startsWith('/jku'))).toEqual([]);
  });
  it('refuses an x5u header and never contacts it', async () => {
    const t = token(attacker, { header: { x5u: `${canary.url}/x5u`, kid: attacker.kid } });
    await expectRejected(remote().verify(t), 'HEADER_X5U_FORBIDDEN');
    expect(canary.hits.filter((h) => h.startsWith('/x5u'))).toEqual([]);
  });
  it('refuses an x5c header without contacting anything', async () => {
    const t = token(attacker, { header: { x5c: [Buffer.from('not really a certificate').toString('base64')], kid: ec.kid } });
    await expectRejected(remote().verify(t), 'HEADER_X5C_FORBIDDEN');
    expect(canary.hits).toEqual([]);
  });
});

describe('kid floods', () => {
  it('costs the JWKS server at most 2 fetches for a flood of 100 unknown kids', async () => {
    const server = await jwksServer(() => [ec.publicJwk]);
    try {
      const val = validatorFor([ec], { keys: undefined, jwksUri: `${server.url}/jwks` });
      const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => val.verify(token(attacker, { header: { kid: `unknown-${i}` } }))));
      expect(results.every((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'KID_UNKNOWN')).toBe(true);
      expect(server.hits.length).toBeGreaterThanOrEqual(1);
      expect(server.hits.length).toBeLessThanOrEqual(2);
    } finally {
      await server.close();
    }
  });
});

describe('revoked tokens (RevocationCache on PostgreSQL)', () => {
  const pool = testPool();
  const clock = fixedClock(T0);
  const expiresAt = new Date(T0.getTime() + 3_600_000);
  let cache: RevocationCache;
  let revokedKey: TestKey;
  beforeAll(async () => {
    revokedKey = await testKey('ES256');
    cache = new RevocationCache({ db: pool, connectListener: pgListener(inject('databaseUrl')), freshnessSeconds: 30, clock });
    await cache.start();
  });
  afterAll(async () => {
    await cache.close();
    await pool.end();
  });
  const rv = () => validatorFor([ec, revokedKey], { revocation: cache });

  it('refuses a revoked jti', async () => {
    const jti = unique('jti');
    await revoke(pool, { kind: 'jti', value: jti, expiresAt, reason: 'attack corpus' });
    await cache.resync();
    await expectRejected(rv().verify(token(ec, { claims: { jti } })), 'REVOKED_JTI');
  });
  it('refuses a token under a revoked kid', async () => {
    await revoke(pool, { kind: 'kid', value: revokedKey.kid, expiresAt, reason: 'attack corpus' });
    await cache.resync();
    await expectRejected(rv().verify(token(revokedKey)), 'REVOKED_KID');
  });
  it('refuses a token of a revoked sub', async () => {
    const sub = unique('sub');
    await revoke(pool, { kind: 'sub', value: sub, expiresAt, reason: 'attack corpus' });
    await cache.resync();
    await expectRejected(rv().verify(token(ec, { claims: { sub, jti: randomUUID() } })), 'REVOKED_SUB');
  });
});

