import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import type { KeyRecord } from '../../agents/key-manager/types.js';
import { registerKeys } from '../../cli/commands/keys.js';
import { testPool } from '../support/db.js';
import { keyIn, keyManager } from './support.js';

const pool = testPool();
let key: KeyRecord;

beforeAll(async () => {
  process.env.DATABASE_URL = inject('databaseUrl');
  key = await keyIn(keyManager(pool), 'active');
});
afterAll(() => pool.end());

async function run(...args: string[]): Promise<string> {
  const program = new Command('keyturn').exitOverride();
  registerKeys(program);
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  });
  try {
    await program.parseAsync(['node', 'keyturn', ...args]);
  } finally {
    spy.mockRestore();
  }
  return out;
}

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
