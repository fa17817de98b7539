import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LocalKekProvider } from '../../agents/key-manager/kek.js';
import type { KeyRecord } from '../../agents/key-manager/types.js';
import { registerKeys } from '../../cli/commands/keys.js';
import { runCli } from '../support/cli.js';
import { testPool } from '../support/db.js';
import { keyIn, keyManager } from './support.js';

const pool = testPool();
let key: KeyRecord;

beforeAll(async () => {
  process.env.DATABASE_URL = inject('databaseUrl');
  key = await keyIn(keyManager(pool), 'active');
});
afterAll(() => pool.end());

const run = async (...args: string[]) => (await runCli(registerKeys, ...args)).out;

describe('keyturn keys list', () => {
  it('prints a table row with kid, issuer, alg, state, created and activated', async () => {
    const out = await run('keys', 'list', '--issuer', key.issuer);
    expect(out.split('\n')[0]).toMatch(/^KID\s+ISSUER\s+ALG\s+STATE\s+CREATED\s+ACTIVATED$/);
    expect(out).toContain(`${key.kid}  ${key.issuer}  ES256  active  ${key.createdAt}  ${key.activatedAt}`);
  });

  it('--json prints the key records with public JWK members only', async () => {
    const records = JSON.parse(await run('keys', 'list', '--issuer', key.issuer, '--json')) as KeyRecord[];
    expect(records.map((r) => r.kid)).toEqual([key.kid]);
    expect(Object.keys(records[0]!.publicJwk).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  });
});

describe('keyturn keys reseal', () => {
  it('moves keys sealed under the old KEK (a later line) to the new one (the first), printing kids and KEK ids but no key', async () => {
    const [oldKek, newKek] = [randomBytes(32), randomBytes(32)];
    const sealedUnderOld = await keyIn(keyManager(pool, { kek: new LocalKekProvider(oldKek) }), 'active');
    process.env.KEYTURN_KEK = `${newKek.toString('base64')}\n${oldKek.toString('base64')}`;
    let out: string;
    try {
      out = await run('keys', 'reseal');
    } finally {
      delete process.env.KEYTURN_KEK;
    }
    const ids = [new LocalKekProvider(oldKek).id, new LocalKekProvider(newKek).id];
    expect(out).toContain(`resealed ${sealedUnderOld.kid} (${sealedUnderOld.issuer}): KEK ${ids[0]} → ${ids[1]}`);
    for (const k of [oldKek, newKek]) for (const enc of ['base64', 'hex'] as const) expect(out).not.toContain(k.toString(enc));
    await expect(keyManager(pool, { kek: new LocalKekProvider(newKek) }).signingHandle(sealedUnderOld.issuer)).resolves.toMatchObject({ kid: sealedUnderOld.kid });
  });
});
