import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { sealPrivateKey, type KekProvider } from '../../agents/key-manager/envelope.js';
import { LocalKekProvider } from '../../agents/key-manager/kek.js';
import type { WithheldKey } from '../../agents/key-manager/publication.js';
import { publicHalf } from '../../agents/key-manager/unseal.js';
import { testPool } from '../support/db.js';
import { generate, keyManager, newIssuer, newKek, policyVersion } from './support.js';

// Played by the runtime login (keyturn_app), which may insert into signing_keys.
const pool = testPool();
afterAll(() => pool.end());

interface ForgedKey {
  kid: string;
  publicJwk: JWK;
  privateKey: KeyObject;
}

async function forgedKey(): Promise<ForgedKey> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const bare = publicHalf(privateKey);
  const kid = await calculateJwkThumbprint(bare, 'sha256');
  return { kid, privateKey, publicJwk: { ...bare, use: 'sig', alg: 'ES256', kid } };
}

/** Inserts a pending row beside KeyManager: the public JWK listed, the private key sealed under `sealedWith`. */
async function insertRow(issuer: string, key: ForgedKey, sealedWith: KekProvider, listed: JWK = key.publicJwk): Promise<void> {
  const der = key.privateKey.export({ format: 'der', type: 'pkcs8' });
  const sealed = await sealPrivateKey(der, { issuer, kid: key.kid }, sealedWith);
  await pool.query(
    `INSERT INTO signing_keys (kid, issuer, alg, state, public_jwk, private_ciphertext, wrapped_dek, nonce, kek_id, policy_version, created_at)
     VALUES ($1, $2, 'ES256', 'pending', $3::jsonb, $4, $5, $6, $7, $8, now())`,
    [key.kid, issuer, JSON.stringify(listed), sealed.ciphertext, sealed.wrappedDek, sealed.nonce, sealed.kekId, policyVersion],
  );
}

function watchingKeyManager(kek: LocalKekProvider) {
  const withheld: WithheldKey[] = [];
  const km = keyManager(pool, { kek, onWithheld: (k) => withheld.push(k) });
  return { km, withheld };
}

const kidsOf = async (km: { jwks(issuer?: string): Promise<{ keys: JWK[] }> }, issuer: string) => (await km.jwks(issuer)).keys.map((k) => k.kid);

describe('JWKS publication vouches for each key with its sealed private key', () => {
  it('a row inserted beside KeyManager, its private key sealed under another KEK, is not published', async () => {
    const { km, withheld } = watchingKeyManager(newKek());
    const issuer = newIssuer();
    const own = await generate(km, issuer);
    const forged = await forgedKey();
    await insertRow(issuer, forged, newKek());
    expect(await kidsOf(km, issuer)).toEqual([own.kid]);
    expect(withheld.map((w) => [w.kid, w.code])).toEqual([[forged.kid, 'KEK_MISMATCH']]);
  });

  it('a row carrying the sealed private key of another key is not published: KEY_BINDING_MISMATCH', async () => {
    const kek = newKek();
    const { km, withheld } = watchingKeyManager(kek);
    const issuer = newIssuer();
    const own = await generate(km, issuer);
    const forged = await forgedKey();
    await pool.query(
      `INSERT INTO signing_keys (kid, issuer, alg, state, public_jwk, private_ciphertext, wrapped_dek, nonce, kek_id, policy_version, created_at)
       SELECT $2, issuer, alg, 'pending', $3::jsonb, private_ciphertext, wrapped_dek, nonce, kek_id, policy_version, now() FROM signing_keys WHERE kid = $1`,
      [own.kid, forged.kid, JSON.stringify(forged.publicJwk)],
    );
    expect(await kidsOf(km, issuer)).toEqual([own.kid]);
    expect(withheld.map((w) => [w.kid, w.code])).toEqual([[forged.kid, 'KEY_BINDING_MISMATCH']]);
  });

  it('what is published is the public half of the sealed key, not the public_jwk the row lists', async () => {
    const kek = newKek();
    const issuer = newIssuer();
    const sealed = await forgedKey();
    const listed = (await forgedKey()).publicJwk;
    await insertRow(issuer, sealed, kek, { ...listed, kid: sealed.kid });
    const { keys } = await keyManager(pool, { kek }).jwks(issuer);
    expect(keys).toEqual([sealed.publicJwk]);
  });

  it('a key sealed under a KEK this process does not hold is withheld and reported once', async () => {
    const older = newKek();
    const issuer = newIssuer();
    const key = await generate(keyManager(pool, { kek: older }), issuer);
    const { km, withheld } = watchingKeyManager(newKek());
    expect(await kidsOf(km, issuer)).toEqual([]);
    expect(await kidsOf(km, issuer)).toEqual([]);
    expect(withheld).toEqual([expect.objectContaining({ kid: key.kid, issuer, code: 'KEK_MISMATCH', hint: expect.stringContaining('KEYTURN_KEK') })]);
  });

  it('a process holding the older KEK beside its active one publishes the keys sealed under it', async () => {
    const olderKey = Buffer.alloc(32, 7);
    const issuer = newIssuer();
    const key = await generate(keyManager(pool, { kek: new LocalKekProvider(olderKey) }), issuer);
    const ring = new LocalKekProvider(Buffer.alloc(32, 9), [olderKey]);
    expect(await kidsOf(keyManager(pool, { kek: ring }), issuer)).toEqual([key.kid]);
  });

  it('a withheld report names the key, never key material', async () => {
    const { km, withheld } = watchingKeyManager(newKek());
    const issuer = newIssuer();
    await insertRow(issuer, await forgedKey(), newKek());
    await km.jwks(issuer);
    expect(JSON.stringify(withheld)).not.toMatch(/"d"|PRIVATE KEY/);
    expect(Object.keys(withheld[0]!).sort()).toEqual(['code', 'hint', 'issuer', 'kid', 'message']);
  });
});
