import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activePolicy, policyHistory } from '../../agents/planner/policy-store.js';
import { startPolicyChange } from '../../client/policy.js';
import type { PolicyChangeResult } from '../../workflows/policy-change.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { result, seedActiveKey, sleep } from '../rotation/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

const ttlOf = (token: string) => {
  const c = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number };
  return c.exp - c.iat;
};

/** The stack's policy document with some of its yaml values replaced. */
function edited(stack: RotationStack, changes: Record<string, string>): string {
  let text = readFileSync(stack.policyPath, 'utf8');
  for (const [field, value] of Object.entries(changes)) text = text.replace(new RegExp(`(\\n\\s*${field}: )\\S+`), `$1${value}`);
  return text;
}

describe('policy changes go live only through a signed-off, versioned workflow', () => {
  let db: PolicyDb;
  let stack: RotationStack;
  beforeAll(async () => {
    db = await policyDatabase();
    stack = await startRotationStack({ name: 'policychange', databaseUrl: db.url, policyFromStore: true });
    await seedActiveKey(stack);
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });
  const apply = (text: string, reason: string) => startPolicyChange(stack.client, { text, reason, requester: 'cli:requester', taskQueue: stack.taskQueue });

  it('an approved change takes effect in the running HTTP service: the next token has the new TTL', async () => {
    expect(ttlOf(await stack.token())).toBe(4);
    const handle = await apply(edited(stack, { accessTokenTtl: '6s', postRetireOverlap: '9s' }), 'clients asked for longer tokens');
    const waiting = await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    expect((waiting.plan as { changes: string[] }).changes).toEqual(expect.arrayContaining([expect.stringContaining('access-token TTL 4s → 6s')]));
    await stack.decide(handle, 'approve', 'cli:alice');
    const r = (await handle.result()) as PolicyChangeResult;
    expect(r.outcome).toBe('activated');
    expect((await activePolicy(stack.pool))!.activation).toMatchObject({ version: r.version, approvedBy: ['cli:alice'] });
    let ttl = 0;
    for (let i = 0; i < 50 && ttl !== 6; i++) {
      ttl = ttlOf(await stack.token());
      if (ttl !== 6) await sleep(100);
    }
    expect(ttl).toBe(6);
  });

  it('a rejected change leaves the active version and the history as they were', async () => {
    const before = { active: (await activePolicy(stack.pool))!.policy.version, history: (await policyHistory(stack.pool)).length };
    const handle = await apply(edited(stack, { accessTokenTtl: '5s', postRetireOverlap: '8s' }), 'try 5s');
    await stack.decide(handle, 'reject', 'cli:bob', 'no');
    expect(await handle.result()).toMatchObject({ outcome: 'rejected', reason: 'no' });
    expect({ active: (await activePolicy(stack.pool))!.policy.version, history: (await policyHistory(stack.pool)).length }).toEqual(before);
  });

  it('a change that would make an in-flight rotation unsafe is refused with the reason', async () => {
    await stack.token();
    const rotation = await stack.rotate('in flight during a policy change');
    await stack.waitFor(rotation, (s) => s.phase === 'awaiting_sign_off', 'rotation sign-off');
    const handle = await apply(edited(stack, { accessTokenTtl: '2s', postRetireOverlap: '4s' }), 'shorter everything');
    const r = (await handle.result()) as PolicyChangeResult;
    expect(r.outcome).toBe('refused');
    expect(r.reason).toContain('overlap-shorter-than-live-tokens');
    await stack.decide(rotation, 'reject', 'cli:bob', 'done');
    await result(rotation);
  });

  it('a run in flight keeps the version it started with', async () => {
    const rotation = await stack.rotate('started before the change');
    const started = await stack.waitFor(rotation, (s) => s.phase === 'awaiting_sign_off', 'rotation sign-off');
    const change = await apply(edited(stack, { accessTokenTtl: '6s', postRetireOverlap: '10s' }), 'a longer overlap');
    await stack.decide(change, 'approve', 'cli:alice');
    const next = ((await change.result()) as PolicyChangeResult).version!;
    expect(next).not.toBe(started.policyVersion);
    expect((await stack.status(rotation)).policyVersion).toBe(started.policyVersion);
    await stack.decide(rotation, 'approve', 'cli:bob');
    await result(rotation);
    const { rows } = await stack.pool.query<{ policy_version: string }>(`SELECT DISTINCT policy_version FROM audit_log WHERE actor ->> 'workflowId' = $1 AND action LIKE 'key.%'`, [rotation.workflowId]);
    expect(rows.map((x) => x.policy_version)).toEqual([started.policyVersion]);
  });

  it('the CLI applies a file, lists the history with approvers, and says when the file differs from the active version', async () => {
    const keyturn = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, ['bin/keyturn.mjs', ...args], { env: { ...process.env, DATABASE_URL: db.url, TEMPORAL_ADDRESS: stack.temporalAddress, TEMPORAL_NAMESPACE: stack.namespace, KEYTURN_POLICY: stack.policyPath, KEYTURN_TASK_QUEUE: stack.taskQueue } },
          (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
      });
    const status = await keyturn('policy', 'status');
    expect(status.stdout).toContain('differs');
    const proposal = join(stack.dataDir, 'proposal.md');
    writeFileSync(proposal, edited(stack, { accessTokenTtl: '7s', postRetireOverlap: '11s' }));
    const applied = await keyturn('policy', 'apply', proposal, '--reason', 'from the CLI');
    expect(applied.code, applied.stderr).toBe(0);
    const run = /^run (\S+)$/m.exec(applied.stdout)![1]!;
    const handle = stack.client.workflow.getHandle(run);
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'approve', 'cli:carol');
    await handle.result();
    const history = await keyturn('policy', 'history');
    expect(history.stdout.split('\n')[0]).toMatch(/active\s+approved by cli:carol\s+from the CLI/);
    expect(history.stdout).toContain('bootstrap');
  });
});
