import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { signAttestation } from '../../agents/approvals/attestation.js';
import { generateChannelKey, registerChannelKey } from '../../agents/approvals/channel-keys.js';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { recordedVotes, type RunRef } from '../../agents/auditor/recorded-sign-off.js';
import { superuserPool, testPool, unique } from '../support/db.js';
import { setupAudit } from '../support/setup-audit.js';

// The runtime login (keyturn_app) appends audit entries: it plays whoever would forge one.
const pool = testPool();
const admin = superuserPool();
afterAll(async () => {
  await pool.end();
  await admin.end();
});

const planHash = 'p'.repeat(64);
const newRun = (): RunRef => ({ workflowId: unique('rotate'), runId: randomUUID() });

async function approverKey() {
  const approver = `cli:${unique('approver').toLowerCase()}`;
  const key = await generateChannelKey();
  await registerChannelKey(admin, { kid: key.kid, channel: 'cli', approver, publicJwk: key.publicJwk }, setupAudit);
  return { approver, kid: key.kid, privateJwk: key.privateJwk };
}

/** The entry the sign-off check appends for an accepted vote, attestation and all (or without it). */
async function recordVote(run: RunRef, approver: string, attestation?: string, reason?: string) {
  await appendAudit(pool, {
    actor: { role: 'Human', cliUser: approver, workflowId: run.workflowId, runId: run.runId },
    action: 'approval.approve',
    subject: { workflowId: run.workflowId, planHash },
    policyVersion: 'v',
    outcome: 'ok',
    details: { channel: 'cli', ...(reason ? { reason } : {}), ...(attestation ? { attestation } : {}) },
  });
}

const attest = (run: RunRef, key: { approver: string; kid: string; privateJwk: Parameters<typeof signAttestation>[1]['privateJwk'] }, over: { planHash?: string; runId?: string } = {}) =>
  signAttestation({ channel: 'cli', approver: key.approver, decision: 'approve', workflowId: run.workflowId, runId: over.runId ?? run.runId, planHash: over.planHash ?? planHash, reason: 'looks right' }, key);

describe('recorded votes count only with the attestation they recorded', () => {
  it('a vote recorded with its attestation counts, with the reason the attestation gives', async () => {
    const run = newRun();
    const key = await approverKey();
    await recordVote(run, key.approver, await attest(run, key), 'a reason the entry claims');
    expect(await recordedVotes(pool, run, planHash, 'approve')).toEqual([expect.objectContaining({ approver: key.approver, channel: 'cli', reason: 'looks right' })]);
  });

  it('an entry appended without an attestation counts for nothing', async () => {
    const run = newRun();
    const key = await approverKey();
    await recordVote(run, key.approver);
    expect(await recordedVotes(pool, run, planHash, 'approve')).toEqual([]);
  });

  it("an entry naming one approver with another approver's attestation counts for nothing", async () => {
    const run = newRun();
    const [alice, mallory] = [await approverKey(), await approverKey()];
    await recordVote(run, alice.approver, await attest(run, mallory));
    expect(await recordedVotes(pool, run, planHash, 'approve')).toEqual([]);
  });

  it('an attestation for another run or another plan counts for nothing', async () => {
    const run = newRun();
    const key = await approverKey();
    await recordVote(run, key.approver, await attest(run, key, { runId: randomUUID() }));
    await recordVote(run, key.approver, await attest(run, key, { planHash: 'q'.repeat(64) }));
    expect(await recordedVotes(pool, run, planHash, 'approve')).toEqual([]);
  });

  it('an attestation signed by a key nobody registered counts for nothing', async () => {
    const run = newRun();
    const approver = `cli:${unique('approver').toLowerCase()}`;
    const unregistered = await generateChannelKey();
    await recordVote(run, approver, await attest(run, { approver, kid: unregistered.kid, privateJwk: unregistered.privateJwk }));
    expect(await recordedVotes(pool, run, planHash, 'approve')).toEqual([]);
  });
});
