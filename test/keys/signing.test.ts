import { scrypt } from 'node:crypto';
import { base64url, importJWK, jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import type { AppendAudit } from '../../agents/auditor/types.js';
import type { KeyManager } from '../../agents/key-manager/key-manager.js';
import type { SigningHandle } from '../../agents/key-manager/types.js';
import type { SigningAlgorithm } from '../../agents/planner/policy-types.js';
import { threadPoolSize } from '../../agents/token-issuer/secret-hash.js';
import { testPool } from '../support/db.js';
import { activate, errorCode, generate, keyIn, keyManager, newIssuer, newKek, opBase } from './support.js';

const pool = testPool();
afterAll(() => pool.end());
const km = keyManager(pool);
const enc = new TextEncoder();

describe('signing handles', () => {
  it.each<SigningAlgorithm>(['RS256', 'PS256', 'ES256', 'EdDSA'])('%s: a JWT signed through the handle verifies with jose against the published JWK', async (alg) => {
    const key = await activate(km, await generate(km, newIssuer(), alg));
    const handle = await km.signingHandle(key.issuer);
    expect([handle.kid, handle.alg, handle.issuer]).toEqual([key.kid, alg, key.issuer]);
    const input = `${base64url.encode(JSON.stringify({ alg, kid: handle.kid, typ: 'JWT' }))}.${base64url.encode(JSON.stringify({ iss: key.issuer, sub: 'svc' }))}`;
    const jwt = `${input}.${base64url.encode(await handle.sign(enc.encode(input)))}`;
    const { jwks } = { jwks: await km.jwks(key.issuer) };
    const jwk = jwks.keys.find((k) => k.kid === handle.kid)!;
    const { payload } = await jwtVerify(jwt, await importJWK(jwk, alg), { issuer: key.issuer, algorithms: [alg] });
    expect(payload.sub).toBe('svc');
  });

  it('an issuer without an active key has no handle: NO_ACTIVE_KEY', async () => {
    const key = await keyIn(km, 'pending');
    expect(await errorCode(km.signingHandle(key.issuer))).toBe('NO_ACTIVE_KEY');
  });

  it('a handle stops signing once its key is revoked', async () => {
    const key = await keyIn(km, 'active');
    const handle = await km.signingHandle(key.issuer);
    await km.revoke({ ...opBase(), kid: key.kid, reason: 'compromised' });
    expect(await errorCode(handle.sign(enc.encode('x.y')))).toBe('KEY_NOT_ACTIVE');
  });

  it('a handle fetched while the revocation of its key is committing stops signing once it has committed', async () => {
    let raced: SigningHandle | undefined;
    let issuer = '';
    // Called inside revoke's transaction, after the key's row changed and before COMMIT: another
    // connection still reads the key as active.
    const duringRevoke: AppendAudit = async (db, entry) => {
      if (entry.action === 'key.revoke' && entry.outcome === 'ok') raced = await racing.signingHandle(issuer);
      return appendAudit(db, entry);
    };
    const racing: KeyManager = keyManager(pool, { appendAudit: duringRevoke });
    const key = await keyIn(racing, 'active');
    issuer = key.issuer;
    await racing.revoke({ ...opBase(), kid: key.kid, reason: 'compromised' });
    expect(raced?.kid).toBe(key.kid);
    expect(await errorCode(raced!.sign(enc.encode('x.y')))).toBe('KEY_NOT_ACTIVE');
  });

  it('an RSA signature that returns from the thread pool after its key was revoked is refused: KEY_NOT_ACTIVE', async () => {
    const key = await activate(km, await generate(km, newIssuer(), 'RS256'));
    const handle = await km.signingHandle(key.issuer);
    // Every pool thread busy with a long scrypt (16 MiB each, p=16 for time), so the signature waits
    // behind them while the key is revoked: revoke needs no pool thread (pooled connection, no DNS).
    const busy = Array.from({ length: threadPoolSize() }, () => new Promise((resolve) => scrypt('busy', 'salt', 32, { N: 2 ** 14, r: 8, p: 16, maxmem: 64 * 2 ** 20 }, resolve)));
    const signing = handle.sign(enc.encode('x.y'));
    await km.revoke({ ...opBase(), kid: key.kid, reason: 'compromised' });
    expect(await errorCode(signing)).toBe('KEY_NOT_ACTIVE');
    await Promise.all(busy);
  });

  it('a new handle after another instance rotated signs with the new key, and the old handle stops', async () => {
    const kek = newKek();
    const [mine, other] = [keyManager(pool, { kek }), keyManager(pool, { kek })];
    const key = await keyIn(mine, 'active');
    const old = await mine.signingHandle(key.issuer);
    const next = await activate(other, await generate(other, key.issuer));
    expect((await mine.signingHandle(key.issuer)).kid).toBe(next.kid);
    expect(await errorCode(old.sign(enc.encode('x.y')))).toBe('KEY_NOT_ACTIVE');
  });

  it('a handle exposes nothing but kid, alg, issuer and sign', async () => {
    const key = await keyIn(km, 'active');
    const handle = await km.signingHandle(key.issuer);
    expect(Object.keys(handle).sort()).toEqual(['alg', 'issuer', 'kid', 'sign']);
    expect(JSON.stringify(handle)).not.toMatch(/"d"|BEGIN/);
  });
});
