import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { noticeSeq, workflowOfNotice } from '../../agents/revocation-responder/notice-seq.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { POLICY_VERSION } from './support.js';

/** Notices of one target are ordered by the audit seq of the change each reports, not by when a run got round to sending it. */
describe('noticeSeq', () => {
  let db: PolicyDb;
  beforeAll(async () => {
    db = await policyDatabase();
  });
  afterAll(() => db.drop());

  const change = async (workflowId: string, action: string) =>
    (await appendAudit(db.app, { actor: { role: 'RevocationResponder', workflowId, runId: 'r1', activityId: '1' }, action, subject: { jti: 'tok-1' }, policyVersion: POLICY_VERSION, outcome: 'ok' })).seq;

  it("is the seq of the audited change the event reports, even when another run's later change was sent first", async () => {
    const contained = await change('revoke-a', 'revocation.contained');
    const lifted = await change('revoke-a', 'revocation.false_alarm');
    const containedAgain = await change('revoke-b', 'revocation.contained');

    expect(await noticeSeq(db.app, 'revoke-b', 'revocation.contained')).toBe(containedAgain);
    expect(await noticeSeq(db.app, 'revoke-a', 'revocation.lifted')).toBe(lifted);
    expect(await noticeSeq(db.app, 'revoke-a', 'revocation.contained')).toBe(contained);
    expect(lifted).toBeLessThan(containedAgain);
  });

  it("is the run's own latest entry when it audited no such change, never another run's later one", async () => {
    const own = await change('revoke-c', 'approval.decided');
    await change('revoke-d', 'revocation.contained');
    expect(await noticeSeq(db.app, 'revoke-c', 'revocation.lifted')).toBe(own);
  });

  it("keeps a containment that changed nothing before the run's later lift", async () => {
    const decided = await change('revoke-f', 'approval.decided');
    await change('revoke-f', 'revocation.false_alarm');
    expect(await noticeSeq(db.app, 'revoke-f', 'revocation.contained')).toBe(decided);
  });

  it("ignores the orchestrator's record of the run's outcome, which names the same action", async () => {
    const lifted = await change('revoke-e', 'revocation.false_alarm');
    await appendAudit(db.app, { actor: { role: 'Orchestrator', workflowId: 'revoke-e', runId: 'r1', activityId: '9' }, action: 'revocation.false_alarm', subject: { jti: 'tok-1' }, policyVersion: POLICY_VERSION, outcome: 'ok' });
    expect(await noticeSeq(db.app, 'revoke-e', 'revocation.lifted')).toBe(lifted);
  });

  it('reads the workflow id from a notice id', () => {
    expect(workflowOfNotice('revoke-kid-abc:def:revocation.confirmed')).toBe('revoke-kid-abc:def');
  });
});
