import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { registerRotation } from '../../cli/commands/rotation.js';
import { runCli } from '../support/cli.js';
import { channelKeyLookup, disableChannelKey, generateChannelKey, listChannelKeys, registerChannelKey } from '../../agents/approvals/channel-keys.js';
import { codeOf } from '../support/error-code.js';
import { superuserPool, testPool, unique } from '../support/db.js';
import { setupAudit } from '../support/setup-audit.js';

const pool = testPool();
// Registering is an administrator's change: the table owner's login, as `KEYTURN_DB_ADMIN_URL`.
const admin = superuserPool();
afterAll(async () => {
  await pool.end();
  await admin.end();
});

const approver = () => `cli:${unique('approver').toLowerCase()}`;
async function registered(who = approver()) {
  const key = await generateChannelKey();
  await registerChannelKey(admin, { kid: key.kid, channel: 'cli', approver: who, publicJwk: key.publicJwk }, setupAudit);
  return { ...key, approver: who };
}
const entriesFor = async (action: string, kid: string) =>
  (await pool.query<{ subject: Record<string, string>; actor: Record<string, string> }>(`SELECT subject, actor FROM audit_log WHERE action = $1 AND subject ->> 'kid' = $2`, [action, kid])).rows;

describe('approval channel keys', () => {
  it("keyturn's runtime login may not register a key: CHANNEL_KEY_ADMIN_ONLY, and nothing is stored or audited", async () => {
    const key = await generateChannelKey();
    const refused = () => registerChannelKey(pool, { kid: key.kid, channel: 'cli', approver: approver(), publicJwk: key.publicJwk }, setupAudit);
    expect(await codeOf(refused)).toBe('CHANNEL_KEY_ADMIN_ONLY');
    expect((await admin.query('SELECT 1 FROM approval_channel_keys WHERE kid = $1', [key.kid])).rowCount).toBe(0);
    expect(await entriesFor('approval.key.register', key.kid)).toEqual([]);
  });

  it('a registration is audited with the key id, channel and approver, and registering the same key again adds nothing', async () => {
    const key = await registered();
    await registerChannelKey(admin, { kid: key.kid, channel: 'cli', approver: key.approver, publicJwk: key.publicJwk }, setupAudit);
    expect(await entriesFor('approval.key.register', key.kid)).toEqual([{ subject: { kid: key.kid, channel: 'cli', approver: key.approver }, actor: setupAudit.actor }]);
  });

  it('a disabled key vouches for nothing at once, and the disabling is audited', async () => {
    const key = await registered();
    await disableChannelKey(pool, key.kid, setupAudit);
    expect(await channelKeyLookup(pool)(key.kid)).toBeUndefined();
    expect(await entriesFor('approval.key.disable', key.kid)).toHaveLength(1);
  });

  it('disabling a key twice, or one that does not exist, is CHANNEL_KEY_NOT_FOUND and audits nothing more', async () => {
    const key = await registered();
    await disableChannelKey(pool, key.kid, setupAudit);
    expect(await codeOf(() => disableChannelKey(pool, key.kid, setupAudit))).toBe('CHANNEL_KEY_NOT_FOUND');
    expect(await codeOf(() => disableChannelKey(pool, 'no-such-kid', setupAudit))).toBe('CHANNEL_KEY_NOT_FOUND');
    expect(await entriesFor('approval.key.disable', key.kid)).toHaveLength(1);
  });

  it('keyturn\'s own role cannot enable a disabled key again, swap its public half or owner, or delete it', async () => {
    const key = await registered();
    await disableChannelKey(pool, key.kid, setupAudit);
    await expect(pool.query('UPDATE approval_channel_keys SET disabled_at = NULL WHERE kid = $1', [key.kid])).rejects.toThrow(/can only be disabled, once/);
    await expect(pool.query(`UPDATE approval_channel_keys SET approver = 'cli:mallory' WHERE kid = $1`, [key.kid])).rejects.toThrow(/permission denied/);
    await expect(pool.query(`UPDATE approval_channel_keys SET public_jwk = '{}' WHERE kid = $1`, [key.kid])).rejects.toThrow(/permission denied/);
    await expect(pool.query('DELETE FROM approval_channel_keys WHERE kid = $1', [key.kid])).rejects.toThrow(/permission denied/);
  });

  it('a key inserted without its audit entry vouches for nothing', async () => {
    const key = await generateChannelKey();
    await admin.query('INSERT INTO approval_channel_keys (kid, channel, approver, public_jwk) VALUES ($1, $2, $3, $4)', [key.kid, 'cli', approver(), JSON.stringify(key.publicJwk)]);
    expect(await channelKeyLookup(pool)(key.kid)).toBeUndefined();
  });

  it('a key registered through keyturn vouches for its approver', async () => {
    const key = await registered();
    expect(await channelKeyLookup(pool)(key.kid)).toMatchObject({ kid: key.kid, channel: 'cli', approver: key.approver });
  });

  it('the list names each key\'s id, channel, approver and state, and no key material', async () => {
    const key = await registered();
    const listed = (await listChannelKeys(pool)).find((k) => k.kid === key.kid);
    expect(listed).toEqual({ kid: key.kid, channel: 'cli', approver: key.approver, createdAt: expect.any(String) });
    expect(JSON.stringify(listed)).not.toContain(String(key.publicJwk.x));
  });
});

describe('keyturn approvers', () => {
  it('disable takes a kid that starts with "-" as the kid, not as an option', async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    let key = await generateChannelKey();
    while (!key.kid.startsWith('-')) key = await generateChannelKey();
    const who = approver();
    await registerChannelKey(admin, { kid: key.kid, channel: 'cli', approver: who, publicJwk: key.publicJwk }, setupAudit);
    expect((await runCli(registerRotation, 'approvers', 'disable', key.kid)).out).toContain(`key ${key.kid} (cli ${who}) disabled`);
    expect(await channelKeyLookup(pool)(key.kid)).toBeUndefined();
  });

  it('add-cli-key without KEYTURN_DB_ADMIN_URL is DB_ADMIN_URL_MISSING and writes no key file', async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    const dir = mkdtempSync(join(tmpdir(), 'keyturn-approver-'));
    try {
      const run = () => runCli(registerRotation, 'approvers', 'add-cli-key', approver(), '--out', join(dir, 'key.json'));
      expect(await codeOf(run)).toBe('DB_ADMIN_URL_MISSING');
      expect(existsSync(join(dir, 'key.json'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('add-cli-key registers a key that list shows enabled, and disable turns it off for good', async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    process.env.KEYTURN_DB_ADMIN_URL = inject('databaseUrl');
    const dir = mkdtempSync(join(tmpdir(), 'keyturn-approver-'));
    try {
      const who = approver();
      const run = (...args: string[]) => runCli(registerRotation, 'approvers', ...args);
      const added = await run('add-cli-key', who, '--out', join(dir, 'key.json'));
      const kid = /key (\S+) written/.exec(added.out)![1]!;
      expect((await run('list')).out).toMatch(new RegExp(`^${kid}  cli  ${who}  \\S+  enabled$`, 'm'));
      expect((await run('disable', kid)).out).toContain(`key ${kid} (cli ${who}) disabled`);
      expect((await run('list')).out).toMatch(new RegExp(`^${kid}  cli  ${who}  \\S+  disabled \\S+$`, 'm'));
      expect(await channelKeyLookup(pool)(kid)).toBeUndefined();
    } finally {
      delete process.env.KEYTURN_DB_ADMIN_URL;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
