import { describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { loadAuditKey } from '../../agents/auditor/audit-key.js';
import { verifyAuditChain } from '../../agents/auditor/verify.js';
import { parseWitnessLog } from '../../agents/auditor/witness.js';
import { eventually } from '../policy/support.js';
import { workerProcessStack } from '../support/worker-process.js';
import { sampleEntry } from './support.js';

const fixture = workerProcessStack('worker-checkpoints');

describe('the production worker process', () => {
  it('signs checkpoints of the audit log, so verify can catch a log rewritten past the database\'s own protections', async () => {
    const { db, env } = await fixture.start();
    const head = await appendAudit(db.app, sampleEntry());
    let log = '';
    fixture.spawnWorker({ ...env, KEYTURN_LOG_LEVEL: 'info' }, (chunk) => (log += chunk));
    const covered = async () => (await db.app.query<{ seq: string }>('SELECT max(seq)::text AS seq FROM audit_checkpoints')).rows[0]?.seq;
    await eventually(async () => Number((await covered()) ?? 0) >= head.seq, 60_000);
    const key = await loadAuditKey({ env, create: false });
    const verified = await verifyAuditChain(db.app, key!.publicJwk);
    expect(verified).toMatchObject({ ok: true });
    expect(verified.ok && verified.checkpoints).toBeGreaterThanOrEqual(1);

    // Each one is also in its log, signed: a witness outside the database that verify accepts.
    await eventually(async () => parseWitnessLog(log, 'worker').checkpoints.length >= 1, 10_000);
    const logged = parseWitnessLog(log, 'worker');
    expect(logged.unreadable).toEqual([]);
    expect(await verifyAuditChain(db.app, key!.publicJwk, { witnesses: logged.checkpoints })).toMatchObject({ ok: true, witnessed: logged.checkpoints.length });
  }, 120_000);
});
