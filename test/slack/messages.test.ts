import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE, ACTION_REJECT, decodeButtonValue, escalationText, esc, rejectModal, requestMessage, type SignOffRequestView } from '../../slack/messages.js';

const request = (over: Partial<SignOffRequestView> = {}): SignOffRequestView => ({
  kind: 'rotation',
  workflowId: 'rotate-auth-example-test-a1b2c3',
  runId: 'run-0001',
  planHash: 'ab12cd34ef56'.repeat(5) + 'abcd',
  requester: 'U0REQ',
  subject: 'https://auth.example.test',
  urgent: false,
  deadline: '2030-01-01T12:00:00.000Z',
  summary: {
    issuer: 'https://auth.example.test',
    oldKid: 'old-kid-0123456789abcdef',
    newAlg: 'ES256',
    timeline: { publishAt: '2030-01-01T10:00:00.000Z', activateAt: '2030-01-01T10:10:00.000Z', retireOldAt: '2030-01-01T10:25:00.000Z' },
    reason: 'quarterly rotation',
  },
  approvals: { quorum: 2, slackChannel: 'C0APPROVE', escalationChannel: 'C0ESCALATE', escalationGroup: 'S0ONCALL' },
  ...over,
});
const web = { webUiUrl: 'http://ui.test/namespaces/default/workflows/w/r' };
const text = (m: { blocks: Array<Record<string, unknown>> }) => JSON.stringify(m.blocks);
const actions = (m: { blocks: Array<Record<string, unknown>> }) => m.blocks.find((b) => b.type === 'actions') as { elements: Array<{ action_id: string; value: string; confirm?: unknown }> } | undefined;

describe('sign-off request message', () => {
  it('of a policy change lists its changes in human terms', () => {
    const m = text(requestMessage(request({ kind: 'policy', subject: 'policy', summary: { diff: ['https://a: access-token TTL 10m → 15m', 'https://a: approvers + U123'], reason: 'longer tokens' } }), {}, web));
    for (const part of ['Changes', 'access-token TTL 10m → 15m', 'approvers + U123', 'longer tokens']) expect(m).toContain(part);
  });

  it("of a policy change touching two issuers says each one's quorum, not a single count", () => {
    const groups = [{ label: 'https://a.example.test', quorum: 2 }, { label: 'https://b.example.test', quorum: 1 }];
    const m = text(requestMessage(request({ kind: 'policy', subject: 'policy', approvals: { ...request().approvals, groups }, summary: { diff: ['https://a.example.test: JWKS max-age 5m → 10m'] } }), {}, web));
    expect(m).toContain("*Approvals:* 0 (needs 2 of https://a.example.test's approvers and 1 of https://b.example.test's approvers)");
  });

  it('shows issuer, old kid → new key, algorithm, timeline, requester, reason, short plan hash and the Web UI link', () => {
    const m = text(requestMessage(request(), {}, web));
    for (const part of ['https://auth.example.test', 'old-kid-01234567', 'new ES256 key', 'publish', 'activate', 'retire old', '<@U0REQ>', 'quarterly rotation', '`ab12cd34ef56`', web.webUiUrl]) {
      expect(m).toContain(part);
    }
  });

  it('carries Approve (with a confirm dialog) and Reject buttons whose value binds workflow, run and plan', () => {
    const a = actions(requestMessage(request(), {}, web))!;
    expect(a.elements.map((e) => e.action_id)).toEqual([ACTION_APPROVE, ACTION_REJECT]);
    expect(a.elements[0]!.confirm).toBeDefined();
    for (const e of a.elements) expect(decodeButtonValue(e.value)).toEqual({ workflowId: 'rotate-auth-example-test-a1b2c3', runId: 'run-0001', planHash: request().planHash });
  });

  it('marks a revocation urgent and mentions the escalation group', () => {
    const m = requestMessage(request({ kind: 'revocation', urgent: true }), {}, web);
    expect(m.text).toContain('URGENT');
    expect(text(m)).toContain('<!subteam^S0ONCALL>');
  });

  it('counts approvals k of N and names who approved, and through which group', () => {
    const m = text(requestMessage(request(), { votes: [{ approver: 'U0ALICE', decision: 'approve' }, { approver: 'U0GRACE', decision: 'approve', viaGroup: 'S0LEADS' }] }, web));
    expect(m).toContain('2 of 2');
    expect(m).toContain('<@U0ALICE>');
    expect(m).toContain('<@U0GRACE> (via <!subteam^S0LEADS>)');
  });

  it('names every user group a vote came through', () => {
    const m = text(requestMessage(request(), { votes: [{ approver: 'U0GRACE', decision: 'approve', viaGroup: 'S0ATEAM', viaGroups: ['S0ATEAM', 'S0BTEAM'] }] }, web));
    expect(m).toContain('<@U0GRACE> (via <!subteam^S0ATEAM>, <!subteam^S0BTEAM>)');
  });

  it('drops the buttons once the sign-off is decided, and shows publish, activation, canary and outcome', () => {
    const m = requestMessage(request(), { signOff: 'approved', published: true, newKid: 'new-kid-abc', activated: true, canary: 'passed', outcome: 'completed' }, web);
    expect(actions(m)).toBeUndefined();
    for (const part of ['Signed off', 'Published', 'new-kid-abc', 'Activated', 'Canary passed', 'Completed']) expect(text(m)).toContain(part);
  });

  it('shows a failed canary and the rollback with its reason', () => {
    const m = text(requestMessage(request(), { signOff: 'approved', canary: 'failed', canaryFailures: ['kid-mismatch'], outcome: 'rolled_back', reason: 'canary validation failed' }, web));
    expect(m).toContain('Canary failed: kid-mismatch');
    expect(m).toContain('Rolled back: canary validation failed');
  });

  it('escapes what people typed, so a reason cannot mention @channel or forge a link', () => {
    const m = text(requestMessage(request({ summary: { ...request().summary, reason: '<!channel> see <http://evil|here> & more' } }), {}, web));
    expect(m).not.toContain('<!channel>');
    expect(m).toContain(esc('<!channel> see <http://evil|here> & more'));
  });

  it('escalation mentions the escalation group and points to the approval channel', () => {
    const t = escalationText(request(), {}, web.webUiUrl, { channel: 'C0APPROVE' });
    expect(t).toContain('<!subteam^S0ONCALL>');
    expect(t).toContain('<#C0APPROVE>');
  });

  it('the reject modal asks for a reason and carries the run in its metadata', () => {
    const v = rejectModal({ workflowId: 'w', runId: 'r', planHash: 'p', channel: 'C0APPROVE' }) as { private_metadata: string; blocks: Array<{ type: string; block_id?: string }> };
    expect(decodeButtonValue(v.private_metadata)).toEqual({ workflowId: 'w', runId: 'r', planHash: 'p' });
    expect(v.blocks.find((b) => b.type === 'input')?.block_id).toBe('reason');
  });

  it('refuses button values that are not keyturn\'s', () => {
    expect(decodeButtonValue('not json')).toBeUndefined();
    expect(decodeButtonValue(JSON.stringify({ workflowId: 'w', runId: 'r' }))).toBeUndefined();
  });
});
