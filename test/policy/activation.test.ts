import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { activePolicy, bootstrapPolicy, fileDiffersFromActive, findPolicyVersion, liveTokenHorizons, policyHistory, storeAndActivate, type ActivateRequest } from '../../agents/planner/policy-store.js';
import { policyVersion } from '../../agents/planner/policy.js';
import { unique } from '../support/db.js';
import { auditOf, docWith, policyDatabase, type PolicyDb } from './support.js';

let db: PolicyDb;
beforeAll(async () => {
  db = await policyDatabase();
  await bootstrapPolicy(db.app, docWith(), appendAudit, { role: 'Orchestrator' });
});
afterAll(() => db.drop());

const change = (over: Partial<ActivateRequest> = {}): ActivateRequest => ({ text: docWith(), approvers: ['U0LEAD1'], reason: 'tighten TTL', requester: 'cli:alice', ...over });
const activeVersion = async () => (await activePolicy(db.app))!.policy.version;

describe('storeAndActivate', () => {
  it('puts the new document in force with its approvers, reason and predecessor', async () => {
    const before = await activeVersion();
    const text = docWith({ accessTokenTtl: '5m' });
    await storeAndActivate(db.app, change({ text, approvers: ['U0LEAD1', 'U0LEAD2'] }), appendAudit);
    const { activation, policy } = (await activePolicy(db.app))!;
    expect({ version: policy.version, previous: activation.previousVersion, approvedBy: activation.approvedBy, reason: activation.reason, requestedBy: activation.requestedBy }).toEqual({
      version: policyVersion(text),
      previous: before,
      approvedBy: ['U0LEAD1', 'U0LEAD2'],
      reason: 'tighten TTL',
      requestedBy: 'cli:alice',
    });
  });

  it("records a 'policy.activated' audit entry naming the previous version and approvers", async () => {
    const before = await activeVersion();
    const text = docWith();
    await storeAndActivate(db.app, change({ text }), appendAudit);
    const last = (await auditOf(db.app, 'policy.activated')).at(-1)!;
    expect({ version: last.policy_version, previous: last.details.previousVersion, approvedBy: last.details.approvedBy }).toEqual({ version: policyVersion(text), previous: before, approvedBy: ['U0LEAD1'] });
  });

  it('refuses a change approved against a version no longer in force', async () => {
    const stale = await activeVersion();
    await storeAndActivate(db.app, change(), appendAudit);
    await expect(storeAndActivate(db.app, change({ expectedActive: stale }), appendAudit)).rejects.toMatchObject({ code: 'POLICY_ACTIVE_CHANGED' });
  });

  it('refuses a change without approvers', async () => {
    await expect(storeAndActivate(db.app, change({ approvers: [' '] }), appendAudit)).rejects.toMatchObject({ code: 'POLICY_CHANGE_INVALID' });
  });

  it('refuses activating the version already in force', async () => {
    const text = docWith();
    await storeAndActivate(db.app, change({ text }), appendAudit);
    await expect(storeAndActivate(db.app, change({ text }), appendAudit)).rejects.toMatchObject({ code: 'POLICY_UNCHANGED' });
  });

  it('returns the first activation when a request id is repeated (a retried activity)', async () => {
    const requestId = unique('wf');
    const text = docWith();
    const first = await storeAndActivate(db.app, change({ text, requestId }), appendAudit);
    const again = await storeAndActivate(db.app, change({ text, requestId }), appendAudit);
    expect(again.activation.seq).toBe(first.activation.seq);
  });

  it('re-activates an older document as a new activation of the same version', async () => {
    const old = docWith({ accessTokenTtl: '7m' });
    await storeAndActivate(db.app, change({ text: old }), appendAudit);
    await storeAndActivate(db.app, change(), appendAudit);
    await storeAndActivate(db.app, change({ text: old, reason: 'roll back' }), appendAudit);
    expect((await findPolicyVersion(db.app, policyVersion(old)))!.activations.map((a) => a.reason)).toEqual(['roll back', 'tighten TTL']);
  });
});

describe('reading the history', () => {
  it('lists activations newest first, only the newest active', async () => {
    const text = docWith();
    await storeAndActivate(db.app, change({ text }), appendAudit);
    const history = await policyHistory(db.app);
    expect(history[0]).toMatchObject({ version: policyVersion(text), status: 'active' });
    expect(history.slice(1).every((h) => h.status === 'superseded')).toBe(true);
    expect(history.at(-1)).toMatchObject({ bootstrap: true });
  });

  it('finds a version by a prefix of its hash, with its exact text and approvers', async () => {
    const text = docWith({ jwksMaxAge: '2m' });
    await storeAndActivate(db.app, change({ text, approvers: ['U0LEAD2'] }), appendAudit);
    const found = await findPolicyVersion(db.app, policyVersion(text).slice(0, 10));
    expect({ text: found?.text, approvedBy: found?.approvedBy, active: found?.active }).toEqual({ text, approvedBy: ['U0LEAD2'], active: true });
  });

  it('returns undefined for a version never stored', async () => {
    expect(await findPolicyVersion(db.app, '0000000000')).toBeUndefined();
  });

  it('tells whether a policy file differs from the version in force', async () => {
    const text = docWith();
    await storeAndActivate(db.app, change({ text }), appendAudit);
    expect([(await fileDiffersFromActive(db.app, text)).differs, (await fileDiffersFromActive(db.app, `${text}\n`)).differs]).toEqual([false, true]);
  });

  it('gives the latest unexpired token expiry per issuer', async () => {
    const issuer = `https://${unique('iss')}.test`;
    const now = new Date();
    const exp = (m: number) => new Date(now.getTime() + m * 60_000);
    for (const [jti, e] of [[unique('j'), exp(5)], [unique('j'), exp(9)], [unique('j'), exp(-1)]] as const) {
      await db.app.query(`INSERT INTO issued_tokens (jti, issuer, sub, kid, exp, iat, policy_version) VALUES ($1, $2, 's', 'k', $3, $4, 'v')`, [jti, issuer, e, exp(-20)]);
    }
    const horizons = await liveTokenHorizons(db.app, now);
    expect(horizons.find((h) => h.issuer === issuer)?.maxExp.getTime()).toBe(exp(9).getTime());
  });
});
