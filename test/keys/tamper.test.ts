import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalKekProvider } from '../../agents/key-manager/kek.js';
import type { KeyturnError } from '../../config/errors.js';
import { superuserPool, testPool } from '../support/db.js';
import { activate, errorCode, generate, keyManager, newIssuer, newKek } from './support.js';

const pool = testPool();
const su = superuserPool();
afterAll(async () => {
  await pool.end();
  await su.end();
});

/** An issuer with an active key, and a fresh KeyManager (empty cache) sharing the KEK. */
async function activeIssuer() {
  const kek = newKek();
  const km = keyManager(pool, { kek });
  const key = await activate(km, await generate(km, newIssuer()));
  return { kek, key, fresh: () => keyManager(pool, { kek }) };
}

describe('tampering with stored keys fails closed with distinct codes', () => {
  it('a flipped ciphertext byte is KEY_CIPHERTEXT_TAMPERED', async () => {
    const { key, fresh } = await activeIssuer();
    await su.query(
      `UPDATE signing_keys SET private_ciphertext = set_byte(private_ciphertext, length(private_ciphertext) - 20,
         get_byte(private_ciphertext, length(private_ciphertext) - 20) # 1) WHERE kid = $1`,
      [key.kid],
    );
    expect(await errorCode(fresh().signingHandle(key.issuer))).toBe('KEY_CIPHERTEXT_TAMPERED');
  });

  it('a different KEK is KEK_MISMATCH', async () => {
    const { key } = await activeIssuer();
    expect(await errorCode(keyManager(pool, { kek: newKek() }).signingHandle(key.issuer))).toBe('KEK_MISMATCH');
  });

  it('encrypted material swapped between two keys is KEY_BINDING_MISMATCH', async () => {
    const { key, kek, fresh } = await activeIssuer();
    const other = await generate(keyManager(pool, { kek }), key.issuer);
    await su.query(
      `UPDATE signing_keys t SET private_ciphertext = s.private_ciphertext, wrapped_dek = s.wrapped_dek, nonce = s.nonce
         FROM signing_keys s WHERE (t.kid, s.kid) IN (($1, $2), ($2, $1))`,
      [key.kid, other.kid],
    );
    expect(await errorCode(fresh().signingHandle(key.issuer))).toBe('KEY_BINDING_MISMATCH');
  });

  it('a refusal names no KEK and no stored secret bytes', async () => {
    const [rightRaw, wrongRaw] = [randomBytes(32), randomBytes(32)];
    const km = keyManager(pool, { kek: new LocalKekProvider(rightRaw) });
    const key = await activate(km, await generate(km, newIssuer()));
    const row = (await pool.query('SELECT private_ciphertext, wrapped_dek FROM signing_keys WHERE kid = $1', [key.kid])).rows[0]!;
    const err = (await keyManager(pool, { kek: new LocalKekProvider(wrongRaw) }).signingHandle(key.issuer).catch((e: unknown) => e)) as KeyturnError;
    const text = `${err.toLine()} ${JSON.stringify(err.details)} ${err.stack ?? ''}`;
    for (const secret of [rightRaw, wrongRaw, row.private_ciphertext as Buffer, row.wrapped_dek as Buffer]) {
      for (const enc of ['hex', 'base64', 'base64url'] as const) expect(text).not.toContain(secret.toString(enc).slice(0, 24));
    }
  });
});
