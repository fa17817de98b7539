import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ACTION_APPROVE, ACTION_REJECT, encodeButtonValue, REJECT_MODAL } from '../../slack/messages.js';
import { approvalsPolicy, buttonValueOf, ISSUER, SIGNING_SECRET, startHarness, waitingRun, type Harness } from './support/harness.js';
import { buttonClick, form, modalSubmission, payloadBody, sendSigned } from './support/signed.js';

const OTHER_ISSUER = 'https://payments.example.test';

describe('Slack sign-off buttons', () => {
  let h: Harness;
  const run = waitingRun();
  const approve = (user: string, over: { value?: string; trigger?: string; appId?: string; teamId?: string } = {}) =>
    payloadBody(buttonClick(h.workspace, { actionId: ACTION_APPROVE, value: over.value ?? buttonValueOf(run), user, ...over }));
  const send = (body: string, o: { timestamp?: number; signature?: string; unsigned?: boolean } = {}) => sendSigned(h.url, body, { secret: SIGNING_SECRET, ...o });

  beforeEach(async () => {
    h = await startHarness();
    h.port.runs.set(run.workflowId, run);
  });
  afterEach(async () => h.stop());

  it('a listed approver clicking Approve decides once, bound to the run and plan of the button', async () => {
    const res = await send(approve('U0ALICE'));
    expect(res.status).toBe(200);
    expect(await h.nextHandled()).toMatchObject({ interaction: 'approve', outcome: 'decided', user: 'U0ALICE' });
    expect(h.port.decisions).toEqual([{ workflowId: run.workflowId, runId: run.runId, planHash: run.planHash, decision: 'approve', approver: 'U0ALICE' }]);
  });

  it('a click while no worker can answer for the run tells the approver nothing was recorded, and a later click counts', async () => {
    h.port.unavailable = true;
    await send(approve('U0ALICE', { trigger: 'trigger-down' }));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'failed' });
    expect([h.port.decisions, h.ephemerals().at(-1)]).toEqual([[], expect.stringContaining('could not read this run')]);
    h.port.unavailable = false;
    await send(approve('U0ALICE', { trigger: 'trigger-up' }));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'decided' });
    expect(h.port.decisions).toHaveLength(1);
  });

  it('on a policy change, a user listed directly for one issuer also names the user group another issuer lists them through', async () => {
    await h.stop();
    h = await startHarness({ groups: { S0BTEAM: ['U0ALICE'] } });
    const change = waitingRun({
      workflowId: 'policy-change-1', kind: 'policy', subject: 'the keyturn policy',
      approvals: { approvers: ['U0ALICE', 'S0BTEAM'], channels: ['slack'], groups: [{ label: 'https://a.example.test', approvers: ['U0ALICE'], quorum: 1 }, { label: 'https://b.example.test', approvers: ['S0BTEAM'], quorum: 1 }] },
    });
    h.port.runs.set(change.workflowId, change);
    await send(approve('U0ALICE', { value: buttonValueOf(change) }));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'decided' });
    expect(h.port.decisions).toEqual([expect.objectContaining({ workflowId: change.workflowId, approver: 'U0ALICE', viaGroup: 'S0BTEAM' })]);
  });

  it('on a policy change, a user reached through two user groups listed by two issuers names both', async () => {
    await h.stop();
    h = await startHarness({ groups: { S0ATEAM: ['U0GRACE'], S0BTEAM: ['U0GRACE'], S0CTEAM: [] } });
    const change = waitingRun({
      workflowId: 'policy-change-2', kind: 'policy', subject: 'the keyturn policy',
      approvals: { approvers: ['S0CTEAM', 'S0ATEAM', 'S0BTEAM'], channels: ['slack'], groups: [{ label: 'https://a.example.test', approvers: ['S0CTEAM', 'S0ATEAM'], quorum: 1 }, { label: 'https://b.example.test', approvers: ['S0BTEAM'], quorum: 1 }] },
    });
    h.port.runs.set(change.workflowId, change);
    await send(approve('U0GRACE', { value: buttonValueOf(change) }));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'decided' });
    expect(h.port.decisions).toEqual([expect.objectContaining({ approver: 'U0GRACE', viaGroup: 'S0ATEAM', viaGroups: ['S0ATEAM', 'S0BTEAM'] })]);
  });

  it('a user found in one user group still decides when the lookup of another fails, and the vote names the one found', async () => {
    await h.stop();
    h = await startHarness({ groups: { S0ATEAM: ['U0GRACE'] } });
    h.slack.refusingGroups.S0BTEAM = 'ratelimited';
    const change = waitingRun({
      workflowId: 'policy-change-3', kind: 'policy', subject: 'the keyturn policy',
      approvals: { approvers: ['S0ATEAM', 'S0BTEAM'], channels: ['slack'], groups: [{ label: 'https://a.example.test', approvers: ['S0ATEAM'], quorum: 1 }, { label: 'https://b.example.test', approvers: ['S0BTEAM'], quorum: 1 }] },
    });
    h.port.runs.set(change.workflowId, change);
    await send(approve('U0GRACE', { value: buttonValueOf(change) }));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'decided' });
    expect(h.port.decisions).toEqual([expect.objectContaining({ approver: 'U0GRACE', viaGroup: 'S0ATEAM' })]);
    expect(h.port.decisions[0]!.viaGroups).toBeUndefined();
  });

  it('a request with a forged signature is refused with 401 and decides nothing', async () => {
    const res = await send(approve('U0ALICE'), { signature: `v0=${'0'.repeat(64)}` });
    expect(res.status).toBe(401);
    expect(h.port.decisions).toEqual([]);
  });

  it('a request signed six minutes ago is refused and decides nothing', async () => {
    const res = await send(approve('U0ALICE'), { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    expect(res.status).toBe(401);
    expect(h.port.decisions).toEqual([]);
  });

  it('a request signed six minutes in the future is refused and decides nothing', async () => {
    const res = await send(approve('U0ALICE'), { timestamp: Math.floor(Date.now() / 1000) + 6 * 60 });
    expect(res.status).toBe(401);
    expect(h.port.decisions).toEqual([]);
  });

  it('an unsigned ssl_check carrying an action payload is answered but decides nothing', async () => {
    const click = buttonClick(h.workspace, { actionId: ACTION_APPROVE, value: buttonValueOf(run), user: 'U0ALICE' });
    const res = await send(form({ ssl_check: '1', payload: JSON.stringify(click) }), { unsigned: true });
    expect(res.status).toBe(200);
    expect(h.port.decisions).toEqual([]);
    expect(h.slack.calls.filter((c) => c.method !== 'auth.test')).toEqual([]);
  });

  it('a correctly signed payload from another Slack app is refused and decides nothing', async () => {
    const res = await send(approve('U0ALICE', { appId: 'A0OTHERAPP' }));
    expect(res.status).toBe(403);
    expect(h.port.decisions).toEqual([]);
  });

  it('a correctly signed payload from another workspace is refused and decides nothing', async () => {
    const res = await send(approve('U0ALICE', { teamId: 'T0OTHERTEAM' }));
    expect(res.status).toBe(403);
    expect(h.port.decisions).toEqual([]);
  });

  it('a user the policy does not list gets an ephemeral explanation and decides nothing', async () => {
    await send(approve('U0MALLORY'));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'not-approver' });
    expect(h.port.decisions).toEqual([]);
    expect(h.slack.callsTo('chat.postEphemeral')).toEqual([
      expect.objectContaining({ args: expect.objectContaining({ channel: h.workspace.channel, user: 'U0MALLORY', text: expect.stringContaining('not an approver') }) }),
    ]);
  });

  it('the approvals the run pinned decide, not today\'s policy: an approver added since is refused', async () => {
    const pinned = waitingRun({ workflowId: 'rotate-pinned', approvals: { approvers: ['U0BOB'], channels: ['slack'] } });
    h.port.runs.set(pinned.workflowId, pinned);
    await send(approve('U0ALICE', { value: buttonValueOf(pinned) }));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'not-approver' });
    await send(approve('U0BOB', { value: buttonValueOf(pinned), trigger: 'trigger-bob' }));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'decided', user: 'U0BOB' });
    expect(h.port.decisions.map((d) => d.approver)).toEqual(['U0BOB']);
  });

  it('someone taken out of the policy since the run was planned is refused, though the run pinned them', async () => {
    const pinned = waitingRun({ workflowId: 'rotate-removed', approvals: { approvers: ['U0ALICE', 'U0MALLORY'], channels: ['slack'] } });
    h.port.runs.set(pinned.workflowId, pinned);
    await send(approve('U0MALLORY', { value: buttonValueOf(pinned) }));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'not-approver' });
    expect(h.port.decisions).toEqual([]);
  });

  /** A revocation waiting for sign-off that pinned one group of `ISSUER` and one of a second issuer (whose policy today lists U0PAYLEAD). */
  async function revocationAcrossIssuers(workflowId: string, ofIssuer: string[], ofOther: string[]) {
    await h.stop();
    h = await startHarness({ otherIssuers: { [OTHER_ISSUER]: approvalsPolicy({ approvers: ['U0PAYLEAD'], quorum: 1 }) } });
    const groups = [{ label: ISSUER, approvers: ofIssuer, quorum: 1 }, { label: OTHER_ISSUER, approvers: ofOther, quorum: 1 }];
    const revocation = waitingRun({ workflowId, kind: 'revocation', approvals: approvalsPolicy({ approvers: [...ofIssuer, ...ofOther], quorum: 1, groups }) });
    h.port.runs.set(revocation.workflowId, revocation);
    return revocation;
  }

  it('a revocation reaching two issuers takes the click of the second issuer\'s approver, whom the first issuer does not list', async () => {
    const revocation = await revocationAcrossIssuers('revoke-sub-both', ['U0ALICE', 'U0BOB'], ['U0PAYLEAD']);
    await send(approve('U0PAYLEAD', { value: buttonValueOf(revocation) }));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'decided', user: 'U0PAYLEAD' });
    await send(approve('U0MALLORY', { value: buttonValueOf(revocation), trigger: 'trigger-mallory' }));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'not-approver' });
  });

  it('on a revocation reaching two issuers, a person taken out of one issuer\'s approvers that its group pins is refused, though the other issuer lists them today', async () => {
    const revocation = await revocationAcrossIssuers('revoke-sub-moved', ['U0ALICE'], ['U0BOB']);
    await send(approve('U0BOB', { value: buttonValueOf(revocation) }));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'not-approver' });
    expect(h.port.decisions).toEqual([]);
  });

  it('on a revocation reaching two issuers, only an approver of the issuer it names may reject it', async () => {
    const revocation = await revocationAcrossIssuers('revoke-sub-reject', ['U0ALICE'], ['U0PAYLEAD']);
    const metadata = JSON.stringify({ workflowId: revocation.workflowId, runId: revocation.runId, planHash: revocation.planHash, channel: h.workspace.channel });
    await send(payloadBody(modalSubmission(h.workspace, { privateMetadata: metadata, user: 'U0PAYLEAD', reason: 'false alarm for payments' })));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'not-approver' });
    expect([h.port.decisions, h.ephemerals().at(-1)]).toEqual([[], expect.stringContaining('Only approvers of')]);
  });

  it('a requester who started the run from the CLI cannot approve it under their Slack id', async () => {
    const run2 = waitingRun({ workflowId: 'rotate-people', requester: 'cli:alice', approvals: { approvers: ['U0ALICE', 'U0BOB'], channels: ['slack', 'cli'], people: [['cli:alice', 'U0ALICE']] } });
    h.port.runs.set(run2.workflowId, run2);
    await send(approve('U0ALICE', { value: buttonValueOf(run2) }));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'self-approval' });
    expect(h.port.decisions).toEqual([]);
  });

  it('the requester cannot approve their own run, even when listed as an approver', async () => {
    await send(approve('U0REQ'));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'self-approval' });
    expect(h.port.decisions).toEqual([]);
    expect(h.ephemerals()).toEqual([expect.stringContaining('someone else must sign it off')]);
  });

  it('a click Slack cannot place in a user group (the lookup fails) tells the clicker nothing was recorded', async () => {
    h.slack.refusingGroups.S0LEADS = 'ratelimited';
    await send(approve('U0GRACE', { trigger: 'trigger-groups-down' }));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'failed' });
    expect([h.port.decisions, h.ephemerals().at(-1)]).toEqual([[], expect.stringContaining('could not ask Slack who is in the approver user groups')]);
  });

  it('a member of a listed user group may approve, and the decision names the group', async () => {
    await send(approve('U0GRACE'));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'decided' });
    expect(h.port.decisions).toEqual([expect.objectContaining({ approver: 'U0GRACE', decision: 'approve', viaGroup: 'S0LEADS' })]);
    expect(h.slack.callsTo('usergroups.users.list').map((c) => c.args.usergroup)).toEqual(['S0LEADS']);
  });

  it('a double click records one decision; the second click is told it is already recorded', async () => {
    await Promise.all([send(approve('U0ALICE')), send(approve('U0ALICE'))]);
    const outcomes = [(await h.nextHandled()).outcome, (await h.nextHandled()).outcome].sort();
    expect(outcomes).toEqual(['decided', 'duplicate']);
    expect(h.port.decisions).toHaveLength(1);
  });

  it('the second click of a double click is a duplicate even when the first one already settled the run', async () => {
    await send(approve('U0ALICE'));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'decided' });
    h.port.runs.set(run.workflowId, { ...run, decided: true, phase: 'publishing' });
    await send(approve('U0ALICE'));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'duplicate' });
    expect(h.ephemerals().at(-1)).toContain('already recorded');
    expect(h.port.decisions).toHaveLength(1);
  });

  it('a click by someone who had not voted, after the run moved on, is told the run no longer waits', async () => {
    h.port.runs.set(run.workflowId, { ...run, decided: true, phase: 'publishing' });
    await send(approve('U0BOB'));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'not-waiting' });
    expect(h.port.decisions).toEqual([]);
  });

  it('a replay of the same signed request within the window records one decision', async () => {
    const body = approve('U0ALICE');
    const timestamp = Math.floor(Date.now() / 1000);
    expect((await send(body, { timestamp })).status).toBe(200);
    expect(await h.nextHandled()).toMatchObject({ outcome: 'decided' });
    expect((await send(body, { timestamp })).status).toBe(200);
    expect(await h.nextHandled()).toMatchObject({ outcome: 'replay' });
    expect(h.port.decisions).toHaveLength(1);
  });

  it('a button from an earlier run of the workflow gets an ephemeral explanation and decides nothing', async () => {
    const earlier = encodeButtonValue({ workflowId: run.workflowId, runId: 'run-0000-earlier', planHash: run.planHash! });
    await send(approve('U0ALICE', { value: earlier }));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'stale-button' });
    expect(h.port.decisions).toEqual([]);
    expect(h.ephemerals()).toEqual([expect.stringContaining('earlier run or plan')]);
  });

  it('a button showing another plan than the run now has decides nothing', async () => {
    const otherPlan = encodeButtonValue({ workflowId: run.workflowId, runId: run.runId, planHash: 'f'.repeat(64) });
    await send(approve('U0ALICE', { value: otherPlan }));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'stale-button' });
    expect(h.port.decisions).toEqual([]);
  });

  it('a click after the run completed decides nothing', async () => {
    h.port.runs.set(run.workflowId, { ...run, phase: 'completed', decided: true });
    await send(approve('U0ALICE'));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'not-waiting' });
    expect(h.port.decisions).toEqual([]);
    expect(h.ephemerals()).toEqual([expect.stringContaining('no longer waiting')]);
  });

  it('Reject opens a modal bound to the run, and its submission decides reject with the reason', async () => {
    await send(payloadBody(buttonClick(h.workspace, { actionId: ACTION_REJECT, value: buttonValueOf(run), user: 'U0BOB' })));
    expect(await h.nextHandled()).toMatchObject({ interaction: 'reject-button', outcome: 'modal-opened' });
    expect(h.port.decisions).toEqual([]);
    const view = h.slack.callsTo('views.open')[0]!.args.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe(REJECT_MODAL);

    const res = await send(payloadBody(modalSubmission(h.workspace, { privateMetadata: view.private_metadata, user: 'U0BOB', reason: 'the new key is not in the HSM yet' })));
    expect(res.status).toBe(200);
    expect(await h.nextHandled()).toMatchObject({ interaction: 'reject-modal', outcome: 'decided' });
    expect(h.port.decisions).toEqual([{ workflowId: run.workflowId, runId: run.runId, planHash: run.planHash, decision: 'reject', approver: 'U0BOB', reason: 'the new key is not in the HSM yet' }]);
  });

  it('a reject modal submitted without a reason is sent back with an error and decides nothing', async () => {
    const metadata = JSON.stringify({ workflowId: run.workflowId, runId: run.runId, planHash: run.planHash, channel: h.workspace.channel });
    const res = await send(payloadBody(modalSubmission(h.workspace, { privateMetadata: metadata, user: 'U0BOB', reason: ' ' })));
    expect(JSON.parse(res.text)).toMatchObject({ response_action: 'errors', errors: { reason: expect.any(String) } });
    expect(await h.nextHandled()).toMatchObject({ outcome: 'reason-missing' });
    expect(h.port.decisions).toEqual([]);
  });

  it('a reject modal submitted by someone the policy does not list decides nothing', async () => {
    const metadata = JSON.stringify({ workflowId: run.workflowId, runId: run.runId, planHash: run.planHash, channel: h.workspace.channel });
    await send(payloadBody(modalSubmission(h.workspace, { privateMetadata: metadata, user: 'U0MALLORY', reason: 'I do not like it' })));
    expect(await h.nextHandled()).toMatchObject({ outcome: 'not-approver' });
    expect(h.port.decisions).toEqual([]);
  });
});

describe('a Slack click when keyturn\'s own records cannot be reached', () => {
  let h: Harness;
  const run = waitingRun();
  const databaseDown = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));

  beforeEach(async () => {
    h = await startHarness({ claims: { claim: databaseDown, isClaimed: databaseDown, release: databaseDown } });
    h.port.runs.set(run.workflowId, run);
  });
  afterEach(async () => h.stop());

  it('tells the clicker it could not finish and to check /keyturn status, and decides nothing', async () => {
    await sendSigned(h.url, payloadBody(buttonClick(h.workspace, { actionId: ACTION_APPROVE, value: buttonValueOf(run), user: 'U0ALICE' })), { secret: SIGNING_SECRET });
    expect(await h.nextHandled()).toMatchObject({ interaction: 'approve', outcome: 'error' });
    expect(h.port.decisions).toEqual([]);
    expect(h.ephemerals()).toEqual([expect.stringContaining('/keyturn status')]);
    expect(h.ephemerals().join()).not.toContain('ECONNREFUSED');
  });
});
