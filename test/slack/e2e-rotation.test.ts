import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startPolicyChange } from '../../client/policy.js';
import { runningRotations } from '../../client/rotations.js';
import type { Handled } from '../../slack/app.js';
import { ACTION_APPROVE, ACTION_REJECT } from '../../slack/messages.js';
import { setupAudit } from '../support/setup-audit.js';
import { createSlackChannelKey } from '../../slack/temporal-port.js';
import { createLogger } from '../../infra/log/logger.js';
import { slackAppFor, slackNotifierFor, type SlackEnv } from '../../workers/slack-wiring.js';
import { result, sleep } from '../rotation/support.js';
import { startRotationStack } from '../support/rotation-stack.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { startFakeSlack } from './support/fake-slack.js';
import { SIGNING_SECRET, WORKSPACE_IDS } from './support/harness.js';
import { buttonClick, modalSubmission, payloadBody, sendSigned, slashCommand, form } from './support/signed.js';

/**
 * The whole path as in production: the real Bolt app mounted on keyturn's HTTP service, the Slack
 * notifier in the real worker, the rotation workflow on the real Temporal server; Slack's side is a
 * stand-in Web API and requests signed with the v0 scheme.
 */
/** The value of the button with this action id, found anywhere in a message's blocks. */
function buttonValue(node: unknown, actionId: string): string {
  const found = (n: unknown): string | undefined => {
    if (Array.isArray(n)) return n.map(found).find((v) => v !== undefined);
    if (n && typeof n === 'object') {
      const o = n as Record<string, unknown>;
      if (o.action_id === actionId && typeof o.value === 'string') return o.value;
      return Object.values(o).map(found).find((v) => v !== undefined);
    }
    return undefined;
  };
  const v = found(node);
  if (!v) throw new Error(`no ${actionId} button in the message`);
  return v;
}

async function slackStack(name: string, approvals: Record<string, unknown>, stackOptions: { databaseUrl?: string; policyFromStore?: boolean } = {}) {
  const fake = await startFakeSlack({ teamId: WORKSPACE_IDS.teamId, groups: { S0LEADS: ['U0GROUPY'] } });
  const keyDir = mkdtempSync(join(tmpdir(), 'keyturn-slack-e2e-'));
  const handled: Handled[] = [];
  const log = createLogger({ name: `slack-${name}`, level: 'warn' });
  const taskQueue = `slack-${name}-${process.pid}-${Date.now()}`;
  let env!: SlackEnv;
  const stack = await startRotationStack({
    name,
    taskQueue,
    ...stackOptions,
    approvals: { approvers: ['U0ALICE', 'U0BOB', 'U0CAROL', 'S0LEADS'], channels: ['slack'], slackChannel: WORKSPACE_IDS.channel, ...approvals },
    notifier: ({ pool }) => slackNotifierFor(env, pool, 'http://ui.test', log),
    httpRoutes: async ({ pool, adminPool, client, policy }) => {
      const keyFile = join(keyDir, 'slack.key');
      await createSlackChannelKey(adminPool, keyFile, setupAudit);
      process.env.KEYTURN_SLACK_KEY_FILE = keyFile;
      env = {
        SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: 'xoxb-test-bot-token', SLACK_APP_ID: WORKSPACE_IDS.appId, SLACK_TEAM_ID: WORKSPACE_IDS.teamId,
        SLACK_API_URL: fake.apiUrl, TEMPORAL_NAMESPACE: 'default', KEYTURN_TASK_QUEUE: taskQueue, SLACK_APP_TOKEN: undefined,
      };
      const { routes } = await slackAppFor(env, { pool, client, policy, uiUrl: 'http://ui.test', log, onHandled: (h) => handled.push(h) });
      return [routes];
    },
  });
  const workspace = { ...WORKSPACE_IDS, responseUrl: fake.responseUrl('r1') };
  const events = `${stack.httpUrl}/slack/events`;
  return {
    stack, fake, handled,
    /** The sign-off request posted for the run, and its Approve button's value. */
    async requestFor(workflowId: string) {
      for (let i = 0; i < 100; i++) {
        const post = fake.callsTo('chat.postMessage').find((c) => JSON.stringify(c.args).includes(workflowId));
        if (post) return { post, value: buttonValue(post.args, ACTION_APPROVE) };
        await sleep(100);
      }
      throw new Error(`no sign-off request was posted for ${workflowId}`);
    },
    async click(user: string, value: string, actionId = ACTION_APPROVE) {
      const before = handled.length;
      const res = await sendSigned(events, payloadBody(buttonClick(workspace, { actionId, value, user })), { secret: SIGNING_SECRET });
      while (handled.length === before) await sleep(20);
      return { status: res.status, outcome: handled[before]!.outcome };
    },
    /** Two clicks sent at once, as a double click arrives; the outcomes of both. */
    async doubleClick(user: string, value: string) {
      const before = handled.length;
      await Promise.all([0, 1].map(() => sendSigned(events, payloadBody(buttonClick(workspace, { actionId: ACTION_APPROVE, value, user })), { secret: SIGNING_SECRET })));
      while (handled.length < before + 2) await sleep(20);
      return handled.slice(before, before + 2).map((h) => h.outcome);
    },
    async rejectWithReason(user: string, value: string, reason: string) {
      const before = handled.length;
      await sendSigned(events, payloadBody(modalSubmission(workspace, { privateMetadata: value, user, reason })), { secret: SIGNING_SECRET });
      while (handled.length === before) await sleep(20);
      return handled.at(-1)!.outcome;
    },
    async slash(user: string, text: string) {
      const before = handled.length;
      const res = await sendSigned(events, form(slashCommand(workspace, { text, user })), { secret: SIGNING_SECRET });
      while (handled.length === before) await sleep(20);
      return { status: res.status, text: res.text };
    },
    async stop() {
      await stack.stop();
      await fake.stop();
      rmSync(keyDir, { recursive: true, force: true });
    },
  };
}

describe('Slack sign-off of a rotation, end to end', () => {
  let s: Awaited<ReturnType<typeof slackStack>>;
  beforeAll(async () => {
    s = await slackStack('slack-e2e', { quorum: 1 });
  });
  afterAll(() => s?.stop());

  it('posts the request, takes the approval click, updates the message through completion and removes the buttons', async () => {
    const handle = await s.stack.rotate('quarterly', 'cli:requester');
    const { post, value } = await s.requestFor(handle.workflowId);
    const text = JSON.stringify(post.args);
    expect(post.args.channel).toBe(WORKSPACE_IDS.channel);
    for (const fact of [s.stack.issuer, 'ES256', 'cli:requester', 'quarterly', handle.workflowId]) expect(text).toContain(fact);

    expect(await s.click('U0ALICE', value)).toMatchObject({ status: 200, outcome: 'decided' });
    const r = await result(handle);
    expect(r).toMatchObject({ outcome: 'completed', approvals: [expect.objectContaining({ approver: 'U0ALICE', channel: 'slack' })] });

    await sleep(500);
    const all = s.fake.callsTo('chat.update').map((c) => JSON.stringify(c.args)).join('\n');
    for (const step of ['1 of 1', 'U0ALICE', 'ublished', 'ctivated', 'anary', 'ompleted']) expect(all).toContain(step);
    const last = s.fake.callsTo('chat.update').at(-1)!;
    expect(JSON.stringify(last.args)).not.toContain(ACTION_APPROVE);
  });

  it('a double click records one decision', async () => {
    const handle = await s.stack.rotate('double click');
    const { value } = await s.requestFor(handle.workflowId);
    const outcomes = await s.doubleClick('U0BOB', value);
    expect((await result(handle)).approvals).toHaveLength(1);
    expect(outcomes.sort()).toEqual(['decided', 'duplicate']);
  });

  it('an approval after the run completed signals nothing', async () => {
    const handle = await s.stack.rotate('late click');
    const { value } = await s.requestFor(handle.workflowId);
    await s.click('U0ALICE', value);
    await result(handle);
    expect((await s.click('U0BOB', value)).outcome).toBe('not-waiting');
  });

  it('a user not on the allow-list, and the requester, leave the run waiting; a group member may approve', async () => {
    const started = await s.slash('U0CAROL', `rotate ${s.stack.issuer} slack-requested`);
    expect(started.status).toBe(200);
    expect(started.text + JSON.stringify(s.fake.calls.at(-1)?.args)).toContain('rotate-');
    let workflowId: string | undefined;
    for (let i = 0; i < 100 && !workflowId; i++) {
      [workflowId] = await runningRotations(s.stack.client, s.stack.issuer);
      if (!workflowId) await sleep(100);
    }
    const handle = s.stack.client.workflow.getHandle(workflowId!);
    const { value } = await s.requestFor(handle.workflowId);
    expect((await s.click('U0MALLORY', value)).outcome).toBe('not-approver');
    expect((await s.click('U0CAROL', value)).outcome).toBe('self-approval');
    expect((await s.stack.status(handle)).approvals).toEqual([]);
    expect((await s.click('U0GROUPY', value)).outcome).toBe('decided');
    expect((await result(handle)).approvals).toEqual([expect.objectContaining({ approver: 'U0GROUPY', viaGroup: 'S0LEADS' })]);
  });

  it('a rejection from the modal ends the run rejected with its reason', async () => {
    const handle = await s.stack.rotate('to be rejected');
    const { value } = await s.requestFor(handle.workflowId);
    expect((await s.click('U0BOB', value, ACTION_REJECT)).outcome).toBe('modal-opened');
    expect(await s.rejectWithReason('U0BOB', value, 'freeze week')).toBe('decided');
    expect(await result(handle)).toMatchObject({ outcome: 'rejected', reason: 'freeze week' });
  });

  it('a button from an earlier run is refused with an explanation', async () => {
    const first = await s.stack.rotate('first');
    const { value: stale } = await s.requestFor(first.workflowId);
    await s.click('U0ALICE', stale);
    await result(first);
    const second = await s.stack.rotate('second');
    await s.requestFor(second.workflowId);
    const forged = stale.replace(first.workflowId, second.workflowId);
    expect(['stale-button', 'unknown-run']).toContain((await s.click('U0BOB', forged)).outcome);
    expect((await s.stack.status(second)).approvals).toEqual([]);
    await s.click('U0BOB', (await s.requestFor(second.workflowId)).value);
    await result(second);
  });
  it('a CLI attestation is ignored when the policy allows only the slack channel', async () => {
    const handle = await s.stack.rotate('cli not allowed');
    await s.requestFor(handle.workflowId);
    await s.stack.decide(handle, 'approve', 'cli:alice');
    await sleep(1_000);
    expect(await s.stack.status(handle)).toMatchObject({ phase: 'awaiting_sign_off', approvals: [] });
    await s.click('U0BOB', (await s.requestFor(handle.workflowId)).value, ACTION_REJECT);
    expect(await s.rejectWithReason('U0BOB', (await s.requestFor(handle.workflowId)).value, 'done')).toBe('decided');
    await result(handle);
  });

  it('/keyturn revoke contains a key at once and an urgent request, approved in Slack, revokes it', async () => {
    if (!(await s.stack.services.keyManager.activeKey(s.stack.issuer))) {
      const first = await s.stack.rotate('a key to revoke');
      await s.click('U0ALICE', (await s.requestFor(first.workflowId)).value);
      await result(first);
    }
    const kid = (await s.stack.services.keyManager.activeKey(s.stack.issuer))!.kid;
    const started = await s.slash('U0CAROL', `revoke kid ${kid} key seen in a public gist`);
    expect(started.status).toBe(200);
    let workflowId: string | undefined;
    for (let i = 0; i < 100 && !workflowId; i++) {
      for await (const wf of s.stack.client.workflow.list({ query: `WorkflowType = 'revocationWorkflow' AND KeyturnKid = '${kid}'` })) workflowId = wf.workflowId;
      if (!workflowId) await sleep(100);
    }
    const handle = s.stack.client.workflow.getHandle(workflowId!);
    const { post, value } = await s.requestFor(workflowId!);
    expect(JSON.stringify(post.args)).toMatch(/urgent|URGENT|:rotating_light:/i);
    expect((await s.click('U0CAROL', value)).outcome).toBe('self-approval');
    expect((await s.click('U0ALICE', value)).outcome).toBe('decided');
    expect(await handle.result()).toMatchObject({ outcome: 'revoked' });
  });
});

describe('Slack sign-off with a quorum of 2', () => {
  let s: Awaited<ReturnType<typeof slackStack>>;
  beforeAll(async () => {
    s = await slackStack('slack-quorum', { quorum: 2 });
  });
  afterAll(() => s?.stop());

  it('needs two distinct approvers; the message shows 1 of 2 in between', async () => {
    const handle = await s.stack.rotate('two people');
    const { value } = await s.requestFor(handle.workflowId);
    expect((await s.click('U0ALICE', value)).outcome).toBe('decided');
    await s.stack.waitFor(handle, (x) => x.approvals.length === 1, 'one approval');
    expect((await s.stack.status(handle)).phase).toBe('awaiting_sign_off');
    expect((await s.click('U0ALICE', value)).outcome).toMatch(/duplicate|decided/);
    expect((await s.click('U0BOB', value)).outcome).toBe('decided');
    const r = await result(handle);
    expect(r.outcome).toBe('completed');
    expect(r.approvals.map((v) => v.approver)).toEqual(['U0ALICE', 'U0BOB']);
    expect(s.fake.callsTo('chat.update').map((c) => JSON.stringify(c.args)).join('\n')).toContain('1 of 2');
  });
});

describe('Slack sign-off of a policy change', () => {
  let db: PolicyDb;
  let s: Awaited<ReturnType<typeof slackStack>>;
  beforeAll(async () => {
    db = await policyDatabase();
    s = await slackStack('slack-policy', { quorum: 1 }, { databaseUrl: db.url, policyFromStore: true });
  });
  afterAll(async () => {
    await s?.stop();
    await db?.drop();
  });

  it('is approved by a listed approver\'s click (a policy change has no issuer: the run\'s own approvals decide) and goes live', async () => {
    const text = readFileSync(s.stack.policyPath, 'utf8').replace(/(\n\s*accessTokenTtl: )\S+/, '$16s').replace(/(\n\s*postRetireOverlap: )\S+/, '$19s');
    const handle = await startPolicyChange(s.stack.client, { text, reason: 'longer tokens', requester: 'cli:requester', taskQueue: s.stack.taskQueue });
    const { value } = await s.requestFor(handle.workflowId);
    expect((await s.click('U0MALLORY', value)).outcome).toBe('not-approver');
    expect((await s.click('U0ALICE', value)).outcome).toBe('decided');
    expect(await handle.result()).toMatchObject({ outcome: 'activated', approvals: [expect.objectContaining({ approver: 'U0ALICE', channel: 'slack' })] });
  });

  it('one click counts for two issuers that list two different user groups the approver is in', async () => {
    const text = readFileSync(s.stack.policyPath, 'utf8');
    const [a] = (parse(text.slice(text.indexOf('```yaml') + 7, text.lastIndexOf('```'))) as { issuers: Array<Record<string, unknown> & { audiences: string[]; approvals: Record<string, unknown> }> }).issuers;
    const doc = (...issuers: unknown[]) => `# policy\n\n\`\`\`yaml\n${stringify({ issuers })}\`\`\`\n`;
    const apply = (issuers: unknown[], reason: string) => startPolicyChange(s.stack.client, { text: doc(...issuers), reason, requester: 'cli:requester', taskQueue: s.stack.taskQueue });
    let teamA = { ...a!, approvals: { ...a!.approvals, approvers: ['U0ALICE', 'S0ATEAM'] } };
    let teamB = { ...a!, issuer: 'http://localhost/slack-policy-b', approvals: { ...a!.approvals, approvers: ['S0BTEAM'] } };
    s.fake.groups.S0ATEAM = ['U0GROUPY'];
    s.fake.groups.S0BTEAM = ['U0GROUPY'];
    const add = await apply([teamA, teamB], 'team A and team B');
    expect((await s.click('U0ALICE', (await s.requestFor(add.workflowId)).value)).outcome).toBe('decided');
    expect(await add.result()).toMatchObject({ outcome: 'activated' });

    teamA = { ...teamA, audiences: [...teamA.audiences, 'https://api2.slack.test'] };
    teamB = { ...teamB, audiences: [...teamB.audiences, 'https://api2.slack.test'] };
    const both = await apply([teamA, teamB], 'both serve a second API');
    expect((await s.click('U0GROUPY', (await s.requestFor(both.workflowId)).value)).outcome).toBe('decided');
    expect(await both.result()).toMatchObject({ outcome: 'activated', approvals: [expect.objectContaining({ approver: 'U0GROUPY', viaGroup: 'S0ATEAM', viaGroups: ['S0ATEAM', 'S0BTEAM'] })] });
  });
});

describe('when Slack refuses every update after the request was posted', () => {
  let s: Awaited<ReturnType<typeof slackStack>>;
  beforeAll(async () => {
    s = await slackStack('slack-refusing', { quorum: 1, channels: ['slack', 'cli'], approvers: ['U0ALICE', 'cli:alice'] });
    s.fake.refusing['chat.update'] = 'message_not_found';
  });
  afterAll(() => s?.stop());

  it('a rotation approved from the CLI still completes, is not rolled back after activation, and frees the issuer for the next one', async () => {
    const first = await s.stack.rotate('message deleted');
    await s.requestFor(first.workflowId);
    await s.stack.decide(first, 'approve', 'cli:alice');
    expect(await result(first)).toMatchObject({ outcome: 'completed' });
    const refusedUpdates = s.fake.callsTo('chat.update').map((c) => JSON.stringify(c.args));
    for (const step of ['ublished', 'ctivated']) expect(refusedUpdates.some((u) => u.includes(step))).toBe(true);
    expect((await s.stack.status(first)).undeliveredNotices).toEqual(expect.arrayContaining(['signoff.vote', 'run.published', 'run.activated', 'run.completed']));
    const details = (await first.query<{ currentDetails: string }>('__temporal_workflow_metadata')).currentDetails;
    expect(details).toContain('**Undelivered notices:** signoff.vote, run.published, run.activated');
    const second = await s.stack.rotate('and again');
    await s.stack.waitFor(second, (x) => x.phase === 'awaiting_sign_off', 'sign-off');
    await s.stack.decide(second, 'reject', 'cli:alice', 'enough');
    expect(await result(second)).toMatchObject({ outcome: 'rejected' });
  });
});
