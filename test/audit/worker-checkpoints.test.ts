import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { loadAuditKey } from '../../agents/auditor/audit-key.js';
import { verifyAuditChain } from '../../agents/auditor/verify.js';
import { stopChild } from '../../infra/process.js';
import { eventually, policyDatabase, type PolicyDb } from '../policy/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { sampleEntry } from './support.js';

let db: PolicyDb | undefined;
let stack: RotationStack | undefined;
let worker: ChildProcess | undefined;
afterAll(async () => {
  if (worker) await stopChild(worker, 5_000);
  await stack?.stop();
  await db?.drop();
});

describe('the production worker process', () => {
  it('signs checkpoints of the audit log, so verify can catch a log rewritten past the database\'s own protections', async () => {
    db = await policyDatabase();
    stack = await startRotationStack({ name: 'worker-checkpoints', databaseUrl: db.url, policyFromStore: true, noWorker: true });
    const env = stack.workerProcessEnv();
    const head = await appendAudit(db.app, sampleEntry());
    worker = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], { env, stdio: ['ignore', 'ignore', 'ignore'] });
    const covered = async () => (await db!.app.query<{ seq: string }>('SELECT max(seq)::text AS seq FROM audit_checkpoints')).rows[0]?.seq;
    await eventually(async () => Number((await covered()) ?? 0) >= head.seq, 60_000);
    const key = await loadAuditKey({ env, create: false });
    const verified = await verifyAuditChain(db.app, key!.publicJwk);
    expect(verified).toMatchObject({ ok: true });
    expect(verified.ok && verified.checkpoints).toBeGreaterThanOrEqual(1);
  }, 120_000);
});
