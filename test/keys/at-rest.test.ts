import { createPrivateKey } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { openPrivateKey } from '../../agents/key-manager/envelope.js';
import type { SigningAlgorithm } from '../../agents/planner/policy-types.js';
import { superuserPool, testPool } from '../support/db.js';
import { activate, generate, keyManager, newIssuer, newKek } from './support.js';

const pool = testPool();
const su = superuserPool();
afterAll(async () => {
  await pool.end();
  await su.end();
});

/** Every row of every key table, every column rendered as text by PostgreSQL itself. */
async function dump(): Promise<string> {
  const tables = ['signing_keys', 'key_requests', 'audit_log'];
  const parts = await Promise.all(tables.map((t) => su.query<{ row: string }>(`SELECT t::text AS row FROM ${t} t`)));
  return parts.flatMap((p) => p.rows.map((r) => r.row)).join('\n');
}

describe('private keys at rest', () => {
  it.each<SigningAlgorithm>(['RS256', 'PS256', 'ES256', 'EdDSA'])('%s: the tables hold no private key material in any readable form', async (alg) => {
    const kek = newKek();
    const km = keyManager(pool, { kek });
    const key = await generate(km, newIssuer(), alg);
    await activate(km, key);
    await km.signingHandle(key.issuer);

    // Decrypt through KeyManager's own envelope code to learn what must not appear.
    const row = (await pool.query('SELECT private_ciphertext, wrapped_dek, nonce, kek_id FROM signing_keys WHERE kid = $1', [key.kid])).rows[0]!;
    const der = await openPrivateKey(
      { ciphertext: row.private_ciphertext as Buffer, wrappedDek: row.wrapped_dek as Buffer, nonce: row.nonce as Buffer, kekId: row.kek_id as string },
      { issuer: key.issuer, kid: key.kid },
      kek,
    );
    const d = Buffer.from(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }).d!, 'base64url');

    const text = await dump();
    expect(text).toContain(key.kid);
    expect(text).not.toContain('"d"');
    expect(text).not.toContain('BEGIN');
    for (const secret of [der, d]) {
      for (const enc of ['hex', 'base64', 'base64url'] as const) expect(text).not.toContain(secret.toString(enc));
    }
    expect((row.private_ciphertext as Buffer).includes(der)).toBe(false);
    expect((row.private_ciphertext as Buffer).includes(d)).toBe(false);
  });

  it('the database refuses a public_jwk carrying a private member', async () => {
    const km = keyManager(pool);
    const key = await generate(km, newIssuer());
    await expect(
      su.query(`INSERT INTO signing_keys (kid, issuer, alg, state, public_jwk, private_ciphertext, wrapped_dek, nonce, kek_id, policy_version, created_at)
                SELECT $1, issuer, alg, state, public_jwk || '{"d":"x"}', private_ciphertext, wrapped_dek, nonce, kek_id, policy_version, created_at
                  FROM signing_keys WHERE kid = $2`, ['B'.repeat(43), key.kid]),
    ).rejects.toMatchObject({ code: '23514' });
  });
});
