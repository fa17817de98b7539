import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { WorkflowHandle } from '@temporalio/client';
import { activePolicy } from '../../agents/planner/policy-store.js';
import { startPolicyChange } from '../../client/policy.js';
import type { PolicyChangeResult } from '../../workflows/policy-change.js';
import { eventually, policyDatabase, type PolicyDb } from '../policy/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

type Issuer = Record<string, unknown> & { issuer: string; audiences: string[]; approvals: Record<string, unknown> };

describe('a policy change is signed off by the approvers of each issuer it touches', () => {
  let db: PolicyDb;
  let stack: RotationStack;
  let a: Issuer;
  let b: Issuer;
  const B = 'http://localhost/per-issuer-b';
  const doc = (...issuers: Issuer[]) => `# policy\n\n\`\`\`yaml\n${stringify({ issuers })}\`\`\`\n`;
  const apply = (text: string, reason: string) => startPolicyChange(stack.client, { text, reason, requester: 'cli:requester', taskQueue: stack.taskQueue });
  const refusalsOf = async (handle: WorkflowHandle) =>
    (await db.su.query<{ refusal: string }>(`SELECT details ->> 'refusal' AS refusal FROM audit_log WHERE action = 'approval.ignored' AND subject ->> 'workflowId' = $1`, [handle.workflowId])).rows.map((r) => r.refusal);

  beforeAll(async () => {
    db = await policyDatabase();
    stack = await startRotationStack({ name: 'per-issuer', databaseUrl: db.url, policyFromStore: true, approvals: { approvers: ['cli:alice'] } });
    const text = readFileSync(stack.policyPath, 'utf8');
    a = (parse(text.slice(text.indexOf('```yaml') + 7, text.lastIndexOf('```'))) as { issuers: Issuer[] }).issuers[0]!;
    b = { ...a, issuer: B, approvals: { ...a.approvals, approvers: ['cli:bob'] } };
    // Adding an issuer is a whole-policy change: signed off by the approvers in force (alice).
    const add = await apply(doc(a, b), 'add issuer B');
    await stack.waitFor(add, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(add, 'approve', 'cli:alice');
    expect(((await add.result()) as PolicyChangeResult).outcome).toBe('activated');
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  it("a change to issuer B alone is refused to A's approver and decided by B's", async () => {
    const handle = await apply(doc(a, { ...b, audiences: [...b.audiences, 'https://api2.rotation.test'] }), 'B serves a second API');
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'approve', 'cli:alice');
    await eventually(async () => (await refusalsOf(handle)).includes('not-an-approver'), 30_000);
    expect((await stack.status(handle)).phase).toBe('awaiting_sign_off');
    await stack.decide(handle, 'approve', 'cli:bob');
    const r = (await handle.result()) as PolicyChangeResult;
    expect(r.outcome).toBe('activated');
    expect((await activePolicy(stack.pool))!.activation).toMatchObject({ version: r.version, approvedBy: ['cli:bob'] });
    b = { ...b, audiences: [...b.audiences, 'https://api2.rotation.test'] };
  });

  it("a change to both issuers waits for each one's own quorum", async () => {
    const handle = await apply(doc({ ...a, audiences: [...a.audiences, 'https://api3.rotation.test'] }, { ...b, audiences: [...b.audiences, 'https://api3.rotation.test'] }), 'both serve a third API');
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'approve', 'cli:bob');
    const one = await stack.waitFor(handle, (s) => s.approvals.length === 1, 'the first vote');
    expect([one.phase, one.signOff?.groups?.map((g) => [g.label, g.quorum])]).toEqual(['awaiting_sign_off', [[a.issuer, 1], [B, 1]]]);
    await stack.decide(handle, 'approve', 'cli:alice');
    expect(((await handle.result()) as PolicyChangeResult)).toMatchObject({ outcome: 'activated', approvals: [expect.objectContaining({ approver: 'cli:bob' }), expect.objectContaining({ approver: 'cli:alice' })] });
  });
});
