import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { storeAndActivate } from '../../agents/planner/policy-store.js';
import { startRevocation } from '../../client/revocations.js';
import type { RevocationResult } from '../../workflows/revocation.js';
import { eventually, policyDatabase, type PolicyDb } from '../policy/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

type Issuer = Record<string, unknown> & { issuer: string; approvals: Record<string, unknown> };

describe('a sub revocation reaching two issuers', () => {
  let db: PolicyDb;
  let stack: RotationStack;
  let a: Issuer;
  const B = 'http://localhost/cross-issuer-b';
  const activate = (issuers: Issuer[], reason: string) =>
    storeAndActivate(db.su, { text: `# policy\n\n\`\`\`yaml\n${stringify({ issuers })}\`\`\`\n`, approvers: ['cli:alice'], reason, requester: 'cli:carol' }, stack.services.appendAudit);
  beforeAll(async () => {
    db = await policyDatabase();
    stack = await startRotationStack({ name: 'cross-issuer', databaseUrl: db.url, policyFromStore: true, approvals: { approvers: ['cli:alice'], quorum: 1 } });
    // Issuer B, with its own approver, is added to the policy in force (signed off elsewhere).
    const text = readFileSync(stack.policyPath, 'utf8');
    a = (parse(text.slice(text.indexOf('```yaml') + 7, text.lastIndexOf('```'))) as { issuers: Issuer[] }).issuers[0]!;
    await activate([a, { ...a, issuer: B, approvals: { ...a.approvals, approvers: ['cli:bob'] } }], 'add B');
    await eventually(() => stack.currentPolicy().issuers.length === 2);
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  it("is decided by a quorum of each issuer's approvers: A's approver alone does not revoke B's client", async () => {
    const sub = `client-${randomUUID().slice(0, 8)}`;
    const now = Date.now();
    // The client holds a live token from B (its record, as B's TokenIssuer writes it).
    await db.su.query(`INSERT INTO issued_tokens (jti, issuer, sub, client_id, kid, exp, iat, policy_version) VALUES ($1, $2, $3, $3, 'kid-b', $4, $5, 'v')`, [randomUUID(), B, sub, new Date(now + 600_000), new Date(now)]);
    const handle = await startRevocation(stack.client, { kind: 'sub', value: sub, issuer: stack.issuer, reason: 'leaked client secret', requester: 'cli:carol', taskQueue: stack.taskQueue });
    const waiting = await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    expect(waiting.signOff?.groups?.map((g) => g.label)).toEqual([stack.issuer, B]);

    await stack.decide(handle, 'approve', 'cli:alice');
    await stack.waitFor(handle, (s) => s.approvals.length === 1, "A's approval");
    expect((await stack.status(handle)).phase).toBe('awaiting_sign_off');
    await stack.decide(handle, 'approve', 'cli:bob');
    expect(((await handle.result()) as RevocationResult).outcome).toBe('revoked');
  });

  it("is rejected, which lifts its containment everywhere, only by the named issuer's approvers", async () => {
    const sub = `client-${randomUUID().slice(0, 8)}`;
    const now = Date.now();
    await db.su.query(`INSERT INTO issued_tokens (jti, issuer, sub, client_id, kid, exp, iat, policy_version) VALUES ($1, $2, $3, $3, 'kid-b', $4, $5, 'v')`, [randomUUID(), B, sub, new Date(now + 600_000), new Date(now)]);
    const handle = await startRevocation(stack.client, { kind: 'sub', value: sub, issuer: stack.issuer, reason: 'suspicious use', requester: 'cli:carol', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'reject', 'cli:bob', 'fine on B');
    const refusals = async () =>
      (await db.su.query<{ refusal: string }>(`SELECT details ->> 'refusal' AS refusal FROM audit_log WHERE action = 'approval.ignored' AND subject ->> 'workflowId' = $1`, [handle.workflowId])).rows.map((r) => r.refusal);
    await eventually(async () => (await refusals()).includes('reject-needs-an-approver-of-the-named-issuer'), 30_000);
    expect((await stack.status(handle)).phase).toBe('awaiting_sign_off');
    await stack.decide(handle, 'reject', 'cli:alice', 'false alarm');
    expect(((await handle.result()) as RevocationResult).outcome).toBe('false_alarm');
  });
  it('that no channel could carry to a quorum holds contained, and its plan record says why', async () => {
    // B now takes Slack votes only, from a Slack id; A takes CLI votes only: no channel is open to both.
    await activate([a, { ...a, issuer: B, approvals: { ...a.approvals, approvers: ['U0BOB'], channels: ['slack'] } }], 'B votes in Slack');
    await eventually(() => stack.currentPolicy().issuers[1]?.approvals.channels.join() === 'slack');
    const sub = `client-${randomUUID().slice(0, 8)}`;
    const now = Date.now();
    await db.su.query(`INSERT INTO issued_tokens (jti, issuer, sub, client_id, kid, exp, iat, policy_version) VALUES ($1, $2, $3, $3, 'kid-b', $4, $5, 'v')`, [randomUUID(), B, sub, new Date(now + 600_000), new Date(now)]);
    const handle = await startRevocation(stack.client, { kind: 'sub', value: sub, issuer: stack.issuer, reason: 'leaked client secret', requester: 'cli:carol', taskQueue: stack.taskQueue });
    try {
      await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
      const { rows } = await db.su.query<{ why: string }>(`SELECT details ->> 'signOffUnreachable' AS why FROM audit_log WHERE action = 'revocation.planned' AND subject ->> 'sub' = $1`, [sub]);
      expect(rows.map((r) => r.why)).toEqual([`${stack.issuer}: 1 approver(s) needed, 0 reachable through no channel at all; ${B}: 1 approver(s) needed, 0 reachable through no channel at all`]);
    } finally {
      await handle.terminate('test over');
    }
  });
});
