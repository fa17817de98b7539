import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { activePolicy, bootstrapPolicy, storeAndActivate } from '../../agents/planner/policy-store.js';
import { policyVersion } from '../../agents/planner/policy.js';
import { auditOf, docWith, policyDatabase, type PolicyDb } from './support.js';

const actor = { role: 'Orchestrator' as const, workflowId: 'keyturn-worker-start' };
let db: PolicyDb;
beforeEach(async () => {
  db = await policyDatabase();
});
afterEach(() => db.drop());

describe('bootstrapPolicy', () => {
  it('puts the file in force when nothing is stored, without approvers', async () => {
    const text = docWith();
    await bootstrapPolicy(db.app, text, appendAudit, actor);
    const active = await activePolicy(db.app);
    expect({ version: active?.policy.version, text: active?.text, bootstrap: active?.activation.bootstrap, approvedBy: active?.activation.approvedBy }).toEqual({
      version: policyVersion(text),
      text,
      bootstrap: true,
      approvedBy: [],
    });
  });

  it("records a 'policy.bootstrapped' audit entry under the new version", async () => {
    const text = docWith();
    await bootstrapPolicy(db.app, text, appendAudit, actor);
    const entries = await auditOf(db.app, 'policy.bootstrapped');
    expect(entries.map((e) => [e.policy_version, e.subject.policyVersion, e.actor.workflowId])).toEqual([[policyVersion(text), policyVersion(text), 'keyturn-worker-start']]);
  });

  it('happens once only: a second bootstrap is refused, even of another document', async () => {
    const first = docWith();
    await bootstrapPolicy(db.app, first, appendAudit, actor);
    await expect(bootstrapPolicy(db.app, docWith({ accessTokenTtl: '5m' }), appendAudit, actor)).rejects.toMatchObject({ code: 'POLICY_ALREADY_BOOTSTRAPPED' });
    expect((await activePolicy(db.app))?.policy.version).toBe(policyVersion(first));
  });

  it('lets only one of two concurrent bootstraps win', async () => {
    const results = await Promise.allSettled([bootstrapPolicy(db.app, docWith(), appendAudit, actor), bootstrapPolicy(db.app, docWith(), appendAudit, actor)]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
  });

  it('refuses an invalid document and stores nothing', async () => {
    await expect(bootstrapPolicy(db.app, docWith({ algorithm: 'HS256' }), appendAudit, actor)).rejects.toMatchObject({ code: 'POLICY_INVALID' });
    expect(await activePolicy(db.app)).toBeUndefined();
  });

  it('is required before any change can be activated', async () => {
    await expect(storeAndActivate(db.app, { text: docWith(), approvers: ['U0LEAD1'], reason: 'r', requester: 'cli:alice' }, appendAudit)).rejects.toMatchObject({ code: 'POLICY_NOT_BOOTSTRAPPED' });
  });
});
