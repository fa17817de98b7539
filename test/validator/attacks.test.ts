import { createHmac, randomUUID } from 'node:crypto';
import { exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { fixedClock } from '../../agents/shared/clock.js';
import { RevocationCache, pgListener, revoke } from '../../agents/validator/revocation-list.js';
import { testPool, unique } from '../support/db.js';
import {
  b64, defaultClaims, defaultHeader, expectRejected, ISSUER, jwksServer, localServer, NOW, T0, testKey, token, validatorFor,
  type LocalServer, type TestKey,
} from './support.js';

let rsa: TestKey;
let ec: TestKey;
let attacker: TestKey;
let canary: LocalServer;
let jwks: LocalServer;

beforeAll(async () => {
  [rsa, ec, attacker] = await Promise.all([testKey('RS256'), testKey('ES256'), testKey('ES256')]);
  canary = await localServer();
  jwks = await jwksServer(() => [rsa.publicJwk, ec.publicJwk]);
});
afterAll(async () => {
  await canary.close();
  await jwks.close();
});

/** The validator under attack: RS256/PS256/ES256 allowed by policy, our RS256 and ES256 keys. */
const v = () => validatorFor([rsa, ec], { algorithms: ['RS256', 'PS256', 'ES256'] });
/** Same policy, keys from the local JWKS server (so any network contact is observable). */
const remote = () => validatorFor([rsa, ec], { algorithms: ['RS256', 'PS256', 'ES256'], keys: undefined, jwksUri: `${jwks.url}/jwks` });

const hmacToken = (secret: Buffer | string, header: Record<string, unknown> = {}) => {
  const input = `${b64({ ...defaultHeader(rsa), alg: 'HS256', ...header })}.${b64(defaultClaims())}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
};
const unsigned = (alg: string) => `${b64({ alg, kid: ec.kid, typ: 'at+jwt' })}.${b64(defaultClaims())}.`;
const withSignature = (t: string, sig: string) => `${t.slice(0, t.lastIndexOf('.'))}.${sig}`;

describe('a valid token', () => {
  it('is accepted', async () => {
    await expect(v().verify(token(ec))).resolves.toMatchObject({ kid: ec.kid, iss: ISSUER });
  });
});

describe('alg none', () => {
  it('refuses alg "none"', () => expectRejected(v().verify(unsigned('none')), 'ALG_NONE'));
  it('refuses alg "None"', () => expectRejected(v().verify(unsigned('None')), 'ALG_NONE'));
  it('refuses alg "NONE"', () => expectRejected(v().verify(unsigned('NONE')), 'ALG_NONE'));
});

describe('algorithm confusion', () => {
  it('refuses HS256 signed with our public key as PEM', async () => {
    await expectRejected(v().verify(hmacToken(rsa.publicKey.export({ type: 'spki', format: 'pem' }))), 'ALG_NOT_ALLOWED');
  });
  it('refuses HS256 signed with our public key as DER', async () => {
    await expectRejected(v().verify(hmacToken(rsa.publicKey.export({ type: 'spki', format: 'der' }))), 'ALG_NOT_ALLOWED');
  });
  it('refuses HS256 signed with our public key as JWK text', async () => {
    await expectRejected(v().verify(hmacToken(JSON.stringify(rsa.publicJwk))), 'ALG_NOT_ALLOWED');
  });
  it('refuses our RS256 key used for PS256 even though policy allows PS256', async () => {
    const t = token({ ...rsa, alg: 'PS256' });
    await expectRejected(v().verify(t), 'ALG_NOT_ALLOWED');
  });
  it('refuses our RS256 key used for RS384', async () => {
    await expectRejected(v().verify(token(rsa, { header: { alg: 'RS384' } })), 'ALG_NOT_ALLOWED');
  });
});

describe('key-carrying and key-locating headers', () => {
  it('refuses an embedded jwk header (attacker key, attacker signature)', async () => {
    const jwk = await exportJWK(attacker.publicKey);
    await expectRejected(v().verify(token(attacker, { header: { jwk, kid: ec.kid } })), 'HEADER_JWK_FORBIDDEN');
  });
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
  it('refuses an x5c header', async () => {
    const t = token(attacker, { header: { x5c: [Buffer.from('not really a certificate').toString('base64')], kid: ec.kid } });
    await expectRejected(remote().verify(t), 'HEADER_X5C_FORBIDDEN');
    expect(canary.hits).toEqual([]);
  });
});

describe('kid', () => {
  it('refuses a path-traversal kid', () => expectRejected(v().verify(token(ec, { header: { kid: '../../etc/passwd' } })), 'KID_INVALID'));
  it('refuses an SQL-injection kid', () => expectRejected(v().verify(token(ec, { header: { kid: "' OR 1=1--" } })), 'KID_INVALID'));
  it('refuses a 10 KB kid by the token size cap, before parsing', () => expectRejected(v().verify(token(ec, { header: { kid: 'a'.repeat(10_240) } })), 'TOKEN_TOO_LARGE'));
  it('refuses a 3 KB kid by the header size cap, before parsing', () => expectRejected(v().verify(token(ec, { header: { kid: 'a'.repeat(3_072) } })), 'TOKEN_HEADER_TOO_LARGE'));
  it('refuses a missing kid', () => expectRejected(v().verify(token(ec, { header: { kid: undefined } })), 'KID_MISSING'));
  it('refuses a kid the key set does not have', () => expectRejected(v().verify(token(attacker)), 'KID_UNKNOWN'));
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

describe('header extensions', () => {
  it('refuses an unknown crit extension', () => expectRejected(v().verify(token(ec, { header: { crit: ['urn:x:ext'], 'urn:x:ext': 1 } })), 'HEADER_CRIT_UNSUPPORTED'));
  it('refuses b64:false (unencoded payload)', () => expectRejected(v().verify(token(ec, { header: { b64: false, crit: ['b64'] } })), 'HEADER_B64_FALSE'));
});

describe('signature', () => {
  it('refuses an all-zero RS256 signature', () => expectRejected(v().verify(withSignature(token(rsa), Buffer.alloc(256).toString('base64url'))), 'SIGNATURE_INVALID'));
  it('refuses the psychic ECDSA signature r = s = 0', () => expectRejected(v().verify(withSignature(token(ec), Buffer.alloc(64).toString('base64url'))), 'SIGNATURE_INVALID'));
  it('refuses a tampered payload under the original signature', async () => {
    const [h, , s] = token(ec).split('.');
    await expectRejected(v().verify(`${h}.${b64({ ...defaultClaims(), sub: 'admin' })}.${s}`), 'SIGNATURE_INVALID');
  });
  it('refuses a truncated signature', async () => {
    const t = token(rsa);
    const sig = Buffer.from(t.slice(t.lastIndexOf('.') + 1), 'base64url');
    await expectRejected(v().verify(withSignature(t, sig.subarray(0, 128).toString('base64url'))), 'SIGNATURE_INVALID');
  });
  it('refuses an empty signature', () => expectRejected(v().verify(withSignature(token(ec), '')), 'SIGNATURE_INVALID'));
});

describe('time claims', () => {
  it('refuses a token without exp', () => expectRejected(v().verify(token(ec, { claims: { exp: undefined } })), 'EXP_MISSING'));
  it('refuses exp given as the string "123"', () => expectRejected(v().verify(token(ec, { claims: { exp: '123' } })), 'EXP_INVALID'));
  it('refuses exp 1e20', () => expectRejected(v().verify(token(ec, { claims: { exp: 1e20 } })), 'EXP_INVALID'));
  it('refuses an expired token', () => expectRejected(v().verify(token(ec, { claims: { exp: NOW - 61 } })), 'EXPIRED'));
  it('refuses nbf in the future beyond the skew', () => expectRejected(v().verify(token(ec, { claims: { nbf: NOW + 61 } })), 'NBF_IN_FUTURE'));
  it('refuses iat in the future beyond the skew', () => expectRejected(v().verify(token(ec, { claims: { iat: NOW + 61 } })), 'IAT_IN_FUTURE'));
  it('refuses a token older than the maximum token age', () => expectRejected(v().verify(token(ec, { claims: { iat: NOW - 3600 - 61 } })), 'TOKEN_TOO_OLD'));
});

describe('identity claims', () => {
  it('refuses a wrong iss', () => expectRejected(v().verify(token(ec, { claims: { iss: 'https://evil.test' } })), 'ISS_MISMATCH'));
  it('refuses iss given as an array containing ours', () => expectRejected(v().verify(token(ec, { claims: { iss: [ISSUER] } })), 'ISS_MISMATCH'));
  it('refuses a token without aud', () => expectRejected(v().verify(token(ec, { claims: { aud: undefined } })), 'AUD_MISMATCH'));
  it('refuses a foreign aud', () => expectRejected(v().verify(token(ec, { claims: { aud: 'https://other-api.test' } })), 'AUD_MISMATCH'));
  it('refuses a token without jti', () => expectRejected(v().verify(token(ec, { claims: { jti: undefined } })), 'JTI_MISSING'));
});

describe('typ', () => {
  it('refuses a missing typ', () => expectRejected(v().verify(token(ec, { header: { typ: undefined } })), 'TYP_INVALID'));
  it('refuses typ JWT (an ID token or other JWT is not an access token)', () => expectRejected(v().verify(token(ec, { header: { typ: 'JWT' } })), 'TYP_INVALID'));
});

describe('JSON parsing', () => {
  it('refuses duplicate members in the header', async () => {
    const raw = `{"alg":"ES256","kid":"${ec.kid}","typ":"at+jwt","kid":"${ec.kid}"}`;
    await expectRejected(v().verify(token(ec, { rawHeader: raw })), 'DUPLICATE_JSON_KEY');
  });
  it('refuses duplicate members in the payload, even when validly signed', async () => {
    const c = JSON.stringify(defaultClaims());
    await expectRejected(v().verify(token(ec, { rawClaims: `${c.slice(0, -1)},"sub":"admin"}` })), 'DUPLICATE_JSON_KEY');
  });
  it('refuses a __proto__ claim, even when validly signed', async () => {
    const c = JSON.stringify(defaultClaims());
    await expectRejected(v().verify(token(ec, { rawClaims: `${c.slice(0, -1)},"__proto__":{"admin":true}}` })), 'PROTO_POLLUTION');
  });
  it('refuses a payload that is not JSON, even when validly signed', () => expectRejected(v().verify(token(ec, { rawClaims: 'not json' })), 'CLAIMS_INVALID_JSON'));
});

describe('shape and size', () => {
  it('refuses a 5 MB token before parsing it', async () => {
    const big = `${'a'.repeat(5 * 1024 * 1024)}.b.c`;
    await expectRejected(v().verify(big), 'TOKEN_TOO_LARGE');
  });
  it('refuses a segment with base64 padding', async () => {
    const [h, p, s] = token(ec).split('.');
    await expectRejected(v().verify(`${h}=.${p}.${s}`), 'TOKEN_MALFORMED');
  });
  it('refuses a segment with standard-base64 characters', async () => {
    const [h, p, s] = token(ec).split('.');
    await expectRejected(v().verify(`${h}.${p!.replace(/[-_]|.$/, '+')}.${s}`), 'TOKEN_MALFORMED');
  });
  it('refuses a segment with whitespace', async () => {
    const [h, p, s] = token(ec).split('.');
    await expectRejected(v().verify(`${h}.${p} .${s}`), 'TOKEN_MALFORMED');
  });
  it('refuses a JWE compact token (5 segments)', () => expectRejected(v().verify(`${b64({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.a.b.c.d`), 'TOKEN_JWE_UNSUPPORTED'));
  it('refuses a token with 4 segments', () => expectRejected(v().verify(`${token(ec)}.x`), 'TOKEN_MALFORMED'));
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

