import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../agents/approvals/notifier.js';
import type { Pool } from '../../db/pool.js';
import { pgClaims } from '../../slack/claims.js';
import { slackNotifier, slackWebClient } from '../../slack/notifier.js';
import { pgSlackMessages } from '../../slack/store.js';
import { testPool, unique } from '../support/db.js';
import { startFakeSlack, type FakeSlack } from './support/fake-slack.js';

type Blocks = Array<{ type: string }>;

describe('Slack notifier', () => {
  let pool: Pool;
  let slack: FakeSlack;
  let workflowId: string;
  const runId = 'run-0001';
  const base = () => ({ kind: 'rotation' as const, workflowId, runId, planHash: 'ab'.repeat(32), subject: 'https://auth.example.test' });
  const requested = (): RunEvent => ({
    ...base(),
    type: 'signoff.requested',
    requester: 'U0REQ',
    urgent: false,
    deadline: '2030-01-01T12:00:00.000Z',
    summary: { issuer: 'https://auth.example.test', oldKid: 'old-kid', newAlg: 'ES256', timeline: {}, reason: 'quarterly' },
    approvals: { quorum: 2, slackChannel: 'C0APPROVE', escalationChannel: 'C0ESCALATE', escalationGroup: 'S0ONCALL' },
  });
  const notifier = () => slackNotifier({ client: slackWebClient('xoxb-test', slack.apiUrl), store: pgSlackMessages(pool), webUiLink: (w) => `http://ui.test/${w}` });
  const lastUpdate = () => slack.callsTo('chat.update').at(-1)!.args as { channel: string; ts: string; blocks: Blocks; text: string };

  beforeAll(() => {
    pool = testPool();
  });
  afterAll(async () => pool.end());
  beforeEach(async () => {
    slack = await startFakeSlack({ teamId: 'T0KEYTURN' });
    workflowId = unique('rotate-slack');
  });
  afterEach(async () => slack.stop());

  it('posts the request to the policy\'s channel with Approve and Reject buttons, and keeps its ts', async () => {
    await notifier().notify(requested());
    const posts = slack.callsTo('chat.postMessage');
    expect(posts).toHaveLength(1);
    expect(posts[0]!.args.channel).toBe('C0APPROVE');
    expect((posts[0]!.args.blocks as Blocks).some((b) => b.type === 'actions')).toBe(true);
    expect(posts[0]!.authorized).toBe(true);
    expect((await pgSlackMessages(pool).get(workflowId))?.ts).toMatch(/^\d+\.\d+$/);
  });

  it('a sign-off that needs a quorum of several issuers\' approvers says so, not "k of quorum"', async () => {
    const groups = [{ label: 'https://a.example.test', approvers: ['U0A'], quorum: 1 }, { label: 'https://b.example.test', approvers: ['U0B'], quorum: 2 }];
    await notifier().notify({ ...requested(), kind: 'revocation', approvals: { ...(requested().approvals as Record<string, unknown>), groups } });
    const text = JSON.stringify(slack.callsTo('chat.postMessage')[0]!.args.blocks);
    expect(text).toContain("1 of https://a.example.test's approvers and 2 of https://b.example.test's approvers");
  });

  it('a message Slack refuses for good (the bot left the channel) fails with SLACK_REFUSED, naming Slack\'s error', async () => {
    slack.refusing['chat.postMessage'] = 'channel_not_found';
    await expect(notifier().notify(requested())).rejects.toMatchObject({ code: 'SLACK_REFUSED', details: { slackError: 'channel_not_found' } });
  });

  it('an error Slack may recover from is passed on as it is, for the activity to retry', async () => {
    slack.refusing['chat.postMessage'] = 'service_unavailable';
    const error = await notifier().notify(requested()).then(() => undefined, (e: unknown) => e);
    expect(error).toBeDefined();
    expect(error).not.toMatchObject({ code: 'SLACK_REFUSED' });
  });

  it('a retried request event updates the posted message instead of posting again', async () => {
    const n = notifier();
    await n.notify(requested());
    await n.notify(requested());
    expect(slack.callsTo('chat.postMessage')).toHaveLength(1);
    expect(slack.callsTo('chat.update')).toHaveLength(1);
  });

  it('updates the message in place with approvals k of N and who', async () => {
    const n = notifier();
    await n.notify(requested());
    await n.notify({ ...base(), type: 'signoff.vote', votes: [{ approver: 'U0ALICE', decision: 'approve', channel: 'slack', at: 'x' }], quorum: 2, decided: null });
    const posted = slack.callsTo('chat.postMessage')[0]!;
    const update = lastUpdate();
    expect(update.ts).toBe((await pgSlackMessages(pool).get(workflowId))!.ts);
    expect(update.channel).toBe(posted.args.channel);
    expect(JSON.stringify(update.blocks)).toContain('1 of 2');
    expect(JSON.stringify(update.blocks)).toContain('<@U0ALICE>');
    expect(update.blocks.some((b) => b.type === 'actions')).toBe(true);
  });

  it('follows the run through publish, activation, canary and completion, and removes the buttons', async () => {
    const n = notifier();
    await n.notify(requested());
    await n.notify({ ...base(), type: 'signoff.vote', votes: [{ approver: 'U0ALICE', decision: 'approve' }, { approver: 'U0BOB', decision: 'approve' }], quorum: 2, decided: 'approved' });
    expect(lastUpdate().blocks.some((b) => b.type === 'actions')).toBe(false);
    await n.notify({ ...base(), type: 'run.published', newKid: 'new-kid-1' });
    expect(JSON.stringify(lastUpdate().blocks)).toContain('Published');
    await n.notify({ ...base(), type: 'run.activated', newKid: 'new-kid-1' });
    expect(JSON.stringify(lastUpdate().blocks)).toContain('Activated');
    await n.notify({ ...base(), type: 'run.canary_passed', newKid: 'new-kid-1', failures: [] });
    expect(JSON.stringify(lastUpdate().blocks)).toContain('Canary passed');
    await n.notify({ ...base(), type: 'run.completed', reason: null });
    const final = JSON.stringify(lastUpdate().blocks);
    expect(final).toContain('Completed');
    expect(final).toContain('new-kid-1');
    expect(slack.callsTo('chat.postMessage')).toHaveLength(1);
  });

  it('shows a failed canary and the rollback', async () => {
    const n = notifier();
    await n.notify(requested());
    await n.notify({ ...base(), type: 'run.canary_failed', newKid: 'new-kid-1', failures: ['kid-mismatch'] });
    await n.notify({ ...base(), type: 'run.rolled_back', reason: 'canary validation failed: kid-mismatch' });
    const final = JSON.stringify(lastUpdate().blocks);
    expect(final).toContain('Canary failed');
    expect(final).toContain('Rolled back');
    expect(lastUpdate().blocks.some((b) => b.type === 'actions')).toBe(false);
  });

  it('an expired sign-off removes the buttons', async () => {
    const n = notifier();
    await n.notify(requested());
    await n.notify({ ...base(), type: 'run.expired', reason: 'no sign-off within 60s' });
    expect(lastUpdate().blocks.some((b) => b.type === 'actions')).toBe(false);
    expect(JSON.stringify(lastUpdate().blocks)).toContain('expired');
  });

  it('posts reminders in the request\'s thread', async () => {
    const n = notifier();
    await n.notify(requested());
    await n.notify({ ...requested(), type: 'signoff.reminder' });
    const reminder = slack.callsTo('chat.postMessage')[1]!;
    expect(reminder.args).toMatchObject({ channel: 'C0APPROVE', thread_ts: (await pgSlackMessages(pool).get(workflowId))!.ts });
    expect(String(reminder.args.text)).toContain('Reminder');
  });

  it('still posts an escalation to the escalation channel when the request itself never reached Slack', async () => {
    slack.refusing['chat.postMessage'] = 'channel_not_found';
    const n = notifier();
    await expect(n.notify(requested())).rejects.toMatchObject({ code: 'SLACK_REFUSED' });
    delete slack.refusing['chat.postMessage'];
    await n.notify({ ...requested(), type: 'signoff.escalated' });
    const escalation = slack.callsTo('chat.postMessage').at(-1)!;
    expect(escalation.args.channel).toBe('C0ESCALATE');
    expect(String(escalation.args.text)).toContain('<!subteam^S0ONCALL>');
  });

  it('posts escalations to the escalation channel, mentioning the escalation group', async () => {
    const n = notifier();
    await n.notify(requested());
    await n.notify({ ...requested(), type: 'signoff.escalated' });
    const escalation = slack.callsTo('chat.postMessage')[1]!;
    expect(escalation.args.channel).toBe('C0ESCALATE');
    expect(String(escalation.args.text)).toContain('<!subteam^S0ONCALL>');
  });

  it('ignores events of a run it posted nothing for', async () => {
    await notifier().notify({ ...base(), type: 'run.completed' });
    expect(slack.calls).toEqual([]);
  });
});

describe('Slack action claims in PostgreSQL', () => {
  let pool: Pool;
  beforeAll(() => {
    pool = testPool();
  });
  afterAll(async () => pool.end());

  it('a claim is taken once until released', async () => {
    const claims = pgClaims(pool);
    const key = unique('trigger');
    expect(await claims.claim(key)).toBe(true);
    expect(await claims.claim(key)).toBe(false);
    await claims.release(key);
    expect(await claims.claim(key)).toBe(true);
  });

  it('whether a claim is taken can be read without taking it', async () => {
    const claims = pgClaims(pool);
    const key = unique('vote');
    expect(await claims.isClaimed(key)).toBe(false);
    expect(await claims.claim(key)).toBe(true);
    expect(await claims.isClaimed(key)).toBe(true);
  });
});
