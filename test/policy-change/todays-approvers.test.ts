import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { storeAndActivate } from '../../agents/planner/policy-store.js';
import { eventually, policyDatabase, type PolicyDb } from '../policy/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

type Issuer = Record<string, unknown> & { approvals: Record<string, unknown> };

describe('a CLI vote on a waiting run counts only if today\'s policy allows it too', () => {
  let db: PolicyDb;
  let stack: RotationStack;
  beforeAll(async () => {
    db = await policyDatabase();
    stack = await startRotationStack({ name: 'todays-approvers', databaseUrl: db.url, policyFromStore: true, approvals: { approvers: ['cli:alice', 'cli:bob'] } });
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  it('an approver taken out of the policy while a rotation waits can no longer approve it', async () => {
    const handle = await stack.rotate();
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    // A policy change activated meanwhile (signed off elsewhere): alice is no longer an approver.
    const text = readFileSync(stack.policyPath, 'utf8');
    const { issuers } = parse(text.slice(text.indexOf('```yaml') + 7, text.lastIndexOf('```'))) as { issuers: Issuer[] };
    const next = `# policy\n\n\`\`\`yaml\n${stringify({ issuers: issuers.map((i) => ({ ...i, approvals: { ...i.approvals, approvers: ['cli:bob'] } })) })}\`\`\`\n`;
    await storeAndActivate(db.su, { text: next, approvers: ['cli:bob'], reason: 'alice left the team', requester: 'cli:carol' }, stack.services.appendAudit);
    await eventually(() => stack.currentPolicy().issuers[0]!.approvals.approvers.join() === 'cli:bob');

    await stack.decide(handle, 'approve', 'cli:alice');
    const refusals = async () =>
      (await db.su.query<{ refusal: string }>(`SELECT details ->> 'refusal' AS refusal FROM audit_log WHERE action = 'approval.ignored' AND subject ->> 'workflowId' = $1`, [handle.workflowId])).rows.map((r) => r.refusal);
    await eventually(async () => (await refusals()).includes('not-an-approver-in-current-policy'), 30_000);
    expect((await stack.status(handle)).phase).toBe('awaiting_sign_off');
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    expect(((await handle.result()) as { outcome: string }).outcome).toBe('rejected');
  });
});
