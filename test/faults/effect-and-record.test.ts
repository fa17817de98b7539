import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../agents/auditor/verify.js';
import { LocalKekProvider } from '../../agents/key-manager/kek.js';
import type { KeyRecord } from '../../agents/key-manager/types.js';
import { stopChild } from '../../infra/process.js';
import { keyIn, keyManager, newIssuer } from '../keys/support.js';
import { eventually, policyDatabase, type PolicyDb } from '../policy/support.js';

const run = promisify(execFile);

/**
 * A KeyManager transition changes the key and appends its audit entry in one transaction. Here the
 * process doing it is killed with SIGKILL after the key row has changed and before the audit insert
 * completes (a test-only trigger holds the insert in pg_sleep): neither may survive, the chain must
 * still verify, and the same request then applies both.
 */
const CASES = [
  { op: 'activate', from: 'pending', to: 'active' },
  { op: 'revoke', from: 'active', to: 'revoked' },
] as const;

describe('a crash between a key change and its audit entry', () => {
  let db: PolicyDb | undefined;
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) await stopChild(c, 3_000);
    await db?.drop();
    db = undefined;
  });

  const stateOf = async (kid: string) => (await db!.su.query<{ state: string }>('SELECT state FROM signing_keys WHERE kid = $1', [kid])).rows[0]!.state;
  const entriesFor = async (op: string, kid: string) => (await db!.su.query(`SELECT seq FROM audit_log WHERE action = $1 AND subject->>'kid' = $2 AND outcome = 'ok'`, [`key.${op}`, kid])).rowCount;
  const cliVerify = () => run(process.execPath, ['bin/keyturn.mjs', 'audit', 'verify'], { env: { ...process.env, DATABASE_URL: db!.url, KEYTURN_DATA_DIR: mkdtempSync(join(tmpdir(), 'keyturn-verify-')), KEYTURN_AUDIT_KEY_FILE: '' } });

  it.each(CASES)('$op: the killed transaction leaves neither, and the same request then leaves both', async ({ op, from, to }) => {
    db = await policyDatabase();
    const kekBytes = randomBytes(32);
    const km = keyManager(db.app, { kek: new LocalKekProvider(kekBytes) });
    const key: KeyRecord = await keyIn(km, from, newIssuer());
    await db.su.query(`CREATE FUNCTION fault_drill_hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(60); RETURN NEW; END $$`);
    await db.su.query(`CREATE TRIGGER fault_drill_hold BEFORE INSERT ON audit_log FOR EACH ROW WHEN (NEW.action = 'key.${op}') EXECUTE FUNCTION fault_drill_hold()`);

    const requestId = `drill-${randomUUID()}`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/faults/transition-child.ts'], {
      env: { ...process.env, DATABASE_URL: db.url, KEYTURN_KEK: kekBytes.toString('base64'), KEYTURN_KEK_FILE: '', OP: op, ISSUER: key.issuer, KID: key.kid, REQUEST_ID: requestId },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    let held: number | undefined;
    await eventually(async () => {
      const r = await db!.su.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'`);
      held = r.rows[0]?.pid;
      return held !== undefined;
    }, 30_000);
    // The held transaction has already written the key row (it holds the write lock on signing_keys).
    const wrote = await db.su.query(`SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE l.pid = $1 AND c.relname = 'signing_keys' AND l.mode = 'RowExclusiveLock'`, [held]);
    expect(wrote.rowCount).toBe(1);
    child.kill('SIGKILL');
    // The server learns of the lost client only when it next talks to it; end the orphaned backend as it would.
    await db.su.query('SELECT pg_terminate_backend($1)', [held]);
    await eventually(async () => (await db!.su.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [held])).rowCount === 0);

    expect(await stateOf(key.kid)).toBe(from);
    expect(await entriesFor(op, key.kid)).toBe(0);
    expect(await verifyAuditChain(db.app, null)).toMatchObject({ ok: true });
    expect((await cliVerify()).stdout).toMatch(/ok/i);

    await db.su.query('DROP TRIGGER fault_drill_hold ON audit_log');
    if (op === 'activate') await km.activate({ requestId, policyVersion: 'a'.repeat(64), actor: { role: 'KeyManager', workflowId: 'fault-drill' }, issuer: key.issuer, kid: key.kid });
    else await km.revoke({ requestId, policyVersion: 'a'.repeat(64), actor: { role: 'KeyManager', workflowId: 'fault-drill' }, kid: key.kid, reason: 'fault drill' });

    expect(await stateOf(key.kid)).toBe(to);
    expect(await entriesFor(op, key.kid)).toBe(1);
    expect(await verifyAuditChain(db.app, null)).toMatchObject({ ok: true });
    expect((await cliVerify()).stdout).toMatch(/ok/i);
  }, 120_000);
});
